"""``--via``: Neptune reached through a local tunnel, requests signed for the cluster's own host.

The test bed runs in IAM mode behind a TCP forwarder started here on loopback (what an SSM port
forward or an SSH tunnel is to the client). The forwarder records each request's bytes, and the
test checks the SigV4 signature itself: it must be valid for the cluster's host name, which is
what the real cluster verifies.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from clirun import cli_env, run_cli
from jobjanitor.cli import main
from jobjanitor_testbed.server import TestBed

CLUSTER_HOST = "db.cluster-abc123.us-east-1.neptune.amazonaws.com"
CLUSTER = f"https://{CLUSTER_HOST}:8182"


class Forwarder:
    """A loopback TCP forwarder to ``target`` that keeps what clients sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sent: list[bytes] = []  # one entry per connection: the bytes the client sent
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wrap(self, raw: socket.socket) -> socket.socket | None:
        return raw

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._server.accept()
            except OSError:
                return
            client = self._wrap(raw)
            if client is None:
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.sent.append(b"")
                index = len(self.sent) - 1
            threading.Thread(target=self._pipe, args=(client, upstream, index), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, index: int | None) -> None:
        try:
            while data := source.recv(65536):
                if index is not None:
                    with self._lock:
                        self.sent[index] += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, target, headers) of every request sent through (bodies are empty here)."""
        out = []
        with self._lock:
            streams = list(self.sent)
        for stream in streams:
            for head in stream.split(b"\r\n\r\n"):
                if not head.strip():
                    continue
                first, *lines = head.decode().split("\r\n")
                method, target, _ = first.split(" ", 2)
                headers = dict(line.split(": ", 1) for line in lines)
                out.append((method, target, headers))
        return out

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def forwarder(aws_env: TestBed) -> Iterator[Forwarder]:
    forwarder = Forwarder((aws_env.neptune.host, aws_env.neptune.port))
    yield forwarder
    forwarder.close()


def signature_valid_for(host: str, method: str, target: str, headers: dict[str, str]) -> bool:
    """Recompute the request's SigV4 signature as the cluster does, for ``host``."""
    authorization = headers["Authorization"]
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    assert "host" in signed
    lower = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(
        method=method, url=f"https://{host}{target}", headers={name: lower[name] for name in signed if name != "host"}
    )
    request.headers["host"] = host
    request.context["timestamp"] = lower["x-amz-date"]
    signer = SigV4Auth(Credentials("testing", "testing"), "neptune-db", "us-east-1")
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return bool(expected == fields["Signature"])


def test_sweep_through_a_tunnel_signs_for_the_cluster_host(aws_env: TestBed, forwarder: Forwarder) -> None:
    bed = aws_env
    bed.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    bed.neptune.seed_ml_job("modeltraining", "other", status="InProgress")
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=forwarder.url)
    proc = run_cli("sweep", "--neptune-endpoint", CLUSTER, "--via", forwarder.url, "--id", "jj-train",
                   "--kinds", "neptune-ml-training", "--max-wait", "30", "--json", "--yes", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (result,) = [r for r in report["results"] if r["job_id"] == "jj-train"]
    assert result["outcome"] == "cancelled"
    assert result["target"] == CLUSTER  # the report names the cluster, not the tunnel
    assert bed.neptune.job("modeltraining", "jj-train").status == "Stopped"
    assert bed.neptune.job("modeltraining", "other").status == "InProgress"

    requests = forwarder.requests()
    assert {method for method, _, _ in requests} >= {"GET", "DELETE"}
    for method, target, headers in requests:
        assert headers["Host"] == f"{CLUSTER_HOST}:8182"
        assert signature_valid_for(f"{CLUSTER_HOST}:8182", method, target, headers)
        # The check has teeth: the same request signed for the tunnel's address would differ.
        assert not signature_valid_for(f"127.0.0.1:{forwarder.port}", method, target, headers)
    assert bed.neptune_log.count(error_code="AccessDeniedException") == 0


def test_without_via_the_tunnel_address_is_what_gets_signed(aws_env: TestBed, forwarder: Forwarder) -> None:
    """What --via fixes: pointing --neptune-endpoint at the tunnel signs for the tunnel."""
    aws_env.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    # The tunnel's address is no Neptune endpoint: admitted here as a test bed would be.
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=forwarder.url)
    proc = run_cli("list", "--neptune-endpoint", forwarder.url, "--kinds", "neptune-ml-training", "--json", env=env)
    assert proc.returncode == 0, proc.stderr  # the test bed checks the credential scope only
    method, target, headers = forwarder.requests()[0]
    assert headers["Host"] == f"127.0.0.1:{forwarder.port}"
    assert not signature_valid_for(f"{CLUSTER_HOST}:8182", method, target, headers)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--via", "https://localhost:8182"], "needs --neptune-endpoint"),
        (["--neptune-endpoint", CLUSTER, "--via", "localhost:8182"], "must look like https://localhost:8182"),
        (["--neptune-endpoint", CLUSTER, "--via", "http://localhost:8182"], "must be https://"),
        (["--neptune-endpoint", CLUSTER, "--via", "https://localhost:8182/path"], "must look like"),
    ],
)
def test_bad_via_exits_2_naming_the_flag(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--glue-transform", "t", *argv]) == 2
    err = capsys.readouterr().err
    assert "argument --via" in err
    assert message in err


def _certificate(tmp_path: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A CA (its PEM for AWS_CA_BUNDLE) and a server certificate for ``name`` it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jobjanitor test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class TLSForwarder(Forwarder):
    """Terminates TLS with a certificate for one name (the cluster's, as a pass-through tunnel
    would show it) and forwards to the plain-http test bed; records the SNI names it was sent."""

    def __init__(self, target: tuple[str, int], cert: pathlib.Path, key: pathlib.Path) -> None:
        self.server_names: list[str | None] = []
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)  # type: ignore[assignment,func-returns-value]
        super().__init__(target)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def _wrap(self, raw: socket.socket) -> socket.socket | None:
        try:
            return self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):  # the client refused our certificate
            raw.close()
            return None


@pytest.mark.parametrize("cert_name", [CLUSTER_HOST, "localhost"])
def test_tls_through_the_tunnel_is_verified_for_the_cluster_name(
    aws_env: TestBed, tmp_path: pathlib.Path, cert_name: str
) -> None:
    aws_env.neptune.seed_ml_job("modeltraining", "jj-train", status="InProgress")
    ca, cert, key = _certificate(tmp_path, cert_name)
    tunnel = TLSForwarder((aws_env.neptune.host, aws_env.neptune.port), cert, key)
    try:
        proc = run_cli("list", "--neptune-endpoint", CLUSTER, "--via", tunnel.url, "--kinds", "neptune-ml-training",
                       "--json", "-q", env=cli_env(AWS_CA_BUNDLE=str(ca)))  # fmt: skip
    finally:
        tunnel.close()
    report = json.loads(proc.stdout)
    assert tunnel.server_names
    assert set(tunnel.server_names) == {CLUSTER_HOST}  # SNI names the cluster
    if cert_name == CLUSTER_HOST:
        assert proc.returncode == 0, proc.stderr
        assert [r["outcome"] for r in report["results"]] == ["would_cancel"]
        for method, target, headers in tunnel.requests():
            assert signature_valid_for(f"{CLUSTER_HOST}:8182", method, target, headers)
    else:  # a certificate for the tunnel's own name is not the cluster's: refused, reported
        assert proc.returncode == 1
        assert "SSL" in report["errors"][0]
        assert report["results"] == []


def test_requests_are_signed_for_the_region_the_endpoint_names(aws_env: TestBed, forwarder: Forwarder) -> None:
    """The profile says us-east-1, the cluster is in us-west-2: the signature must name us-west-2."""
    west = "https://db.cluster-abc123.us-west-2.neptune.amazonaws.com:8182"
    aws_env.neptune.sigv4.region = "us-west-2"  # the cluster's: it refuses any other (reset restores)
    env = cli_env(JOBJANITOR_ALLOWED_ENDPOINTS=forwarder.url, AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    proc = run_cli("list", "--neptune-endpoint", west, "--via", forwarder.url, "--kinds", "neptune-loader",
                   "--json", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    scopes = {
        headers["Authorization"].split("Credential=", 1)[1].split(",")[0] for _, _, headers in forwarder.requests()
    }
    assert scopes
    assert all(scope.split("/")[2:4] == ["us-west-2", "neptune-db"] for scope in scopes), scopes


def test_a_region_other_than_the_endpoints_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    west = "https://db.cluster-abc123.us-west-2.neptune.amazonaws.com:8182"
    assert main(["list", "--neptune-endpoint", west, "--region", "eu-west-1"]) == 2
    err = capsys.readouterr().err
    assert "argument --region" in err
    assert "'us-west-2'" in err
