# jobjanitor: every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PY313   := $(shell scripts/find-python313)
VENV    := .venv
PY      := $(VENV)/bin/python
TOOLS   := .tools
SAM     := $(TOOLS)/sam/bin/sam
CFNLINT := $(TOOLS)/sam/bin/cfn-lint
CHECKOV := $(TOOLS)/checkov/bin/checkov
UV      := $(TOOLS)/uv/bin/uv
# Each tool's version is pinned once, in tools/<tool>.txt (a one-line requirements file that
# Dependabot updates); the stamps below name it, so a bump reinstalls.
pin = $(shell sed -n 's/^$(1)==//p' tools/$(2).txt)
SAM_VERSION     := $(call pin,aws-sam-cli,sam-cli)
CHECKOV_VERSION := $(call pin,checkov,checkov)
UV_VERSION      := $(call pin,uv,uv)
# uv (docs/build.md): the project's Python 3.13, never a downloaded one.
export UV_PYTHON := $(PY313)
export UV_PYTHON_DOWNLOADS := never
# sam build looks for `python3.13` on PATH: the project venv provides it, whatever the machine has.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
CFN_TEMPLATES := template.yaml $(wildcard examples/*.yaml) $(wildcard examples/organization/*.yaml)
# make stackset-template: sam package into ORG_BUCKET_PREFIX-ORG_HOME_REGION (docs/organization.md).
ORG_HOME_REGION ?= $(AWS_DEFAULT_REGION)

.PHONY: help venv tools sam-cli checkov lock demo test lint typecheck cfn build pytest bench fuzz clean invoke stackset-template

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# The venv is exactly the lock's runtime and dev sets (uv sync removes anything else), so the
# tests run the versions the Lambda ships, compiled once here: every process the tests start
# (the CLI, make invoke) imports moto and boto3 from bytecode, even where the environment says
# PYTHONDONTWRITEBYTECODE.
# Quiet on stdout (what it does goes to stderr): `make invoke ... > answer.json` keeps a clean file.
$(VENV)/.installed: pyproject.toml uv.lock $(TOOLS)/uv/.installed-$(UV_VERSION)
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)" >&2; exit 1; }
	@echo "$(UV) sync --locked --extra dev --compile-bytecode" >&2
	@$(UV) sync --locked --extra dev --compile-bytecode >&2
	@touch $@

venv: $(VENV)/.installed  ## create .venv (Python 3.13) from uv.lock: the package, its runtime and dev sets

lock: $(TOOLS)/uv/.installed-$(UV_VERSION)  ## re-resolve uv.lock from pyproject.toml (UPGRADE=1: newest versions of everything)
	$(UV) lock $(if $(UPGRADE),--upgrade)

# SAM CLI and checkov each pin their own boto3/botocore, so each lives in its own environment.
# The stamp names the version, so bumping a pin in tools/ reinstalls.
$(TOOLS)/sam/.installed-$(SAM_VERSION):
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	$(PY313) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install -q -r tools/sam-cli.txt
	touch $@

$(TOOLS)/uv/.installed-$(UV_VERSION):
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)" >&2; exit 1; }
	@echo "installing uv into $(TOOLS)/uv (tools/uv.txt)" >&2
	@$(PY313) -m venv $(TOOLS)/uv >&2
	@$(TOOLS)/uv/bin/pip install -q -r tools/uv.txt >&2
	@touch $@

$(TOOLS)/checkov/.installed-$(CHECKOV_VERSION):
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	$(PY313) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q -r tools/checkov.txt
	touch $@

# One target per tool, so each command installs only what it runs: building needs SAM CLI
# (and uv, through the venv), never checkov.
sam-cli: $(TOOLS)/sam/.installed-$(SAM_VERSION)  ## install SAM CLI (with cfn-lint) into .tools/sam
checkov: $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)  ## install checkov into .tools/checkov
tools: sam-cli checkov $(TOOLS)/uv/.installed-$(UV_VERSION)  ## install SAM CLI (with cfn-lint), checkov and uv

demo: venv  ## the main job, locally: test bed + jobs of every kind + a guard Create and Delete as CloudFormation sends them
	$(PY) -m jobjanitor_testbed.demo

# One line and status 2 when EVENT is missing or names no file ($(error) stops make with one line).
invoke: venv  ## run a sample event through its handler against the test bed: make invoke EVENT=events/guard-delete.json [V=1: the function's logs]
	$(if $(EVENT),,$(error usage: make invoke EVENT=events/<file>.json [V=1] (see docs/deploy.md)))
	$(if $(wildcard $(EVENT)),,$(error no such event file: $(EVENT)))
	@$(PY) -m jobjanitor_testbed.invoke $(if $(V),-v) $(if $(ENV_FILE),--env $(ENV_FILE)) $(EVENT)

lint: venv  ## ruff (lint and format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv  ## mypy, strict on functions/
	$(VENV)/bin/mypy

# sam validate also reads plain CloudFormation (examples/): it runs SAM's checks and then cfn-lint's.
cfn: sam-cli checkov  ## sam validate --lint, cfn-lint and checkov on every template
	for t in $(CFN_TEMPLATES); do $(SAM) validate --lint --template $$t --region $(AWS_DEFAULT_REGION); done
	$(CFNLINT) $(CFN_TEMPLATES)
	$(CHECKOV) --quiet --compact --framework cloudformation --config-file .checkov.yaml $(addprefix -f ,$(CFN_TEMPLATES))

# sam build runs artifact/Makefile (BuildMethod: makefile): the layer from uv.lock, trimmed and
# precompiled, and each function's own code (docs/build.md).
build: venv sam-cli  ## sam build (python3.13, arm64) into .aws-sam/: the dependencies layer and the functions
	$(SAM) build --template template.yaml --no-cached

# What an organization's StackSet deploys: template.yaml built, packaged into the home Region's bucket
# <ORG_BUCKET_PREFIX>-<region> (needs AWS credentials), expanded with no transform (a service-managed
# StackSet runs no macros), its code bucket made <ORG_BUCKET_PREFIX>-${AWS::Region} (docs/organization.md).
stackset-template: build  ## the StackSet's install template: make stackset-template ORG_BUCKET_PREFIX=<prefix> ORG_HOME_REGION=<region>
	@test -n "$(ORG_BUCKET_PREFIX)" || { echo "usage: make stackset-template ORG_BUCKET_PREFIX=<prefix> ORG_HOME_REGION=<region> (docs/organization.md)"; exit 2; }
	$(SAM) package --template-file .aws-sam/build/template.yaml --region $(ORG_HOME_REGION) \
	  --s3-bucket $(ORG_BUCKET_PREFIX)-$(ORG_HOME_REGION) --s3-prefix jobjanitor --output-template-file .aws-sam/packaged.yaml
	$(TOOLS)/sam/bin/python scripts/stackset_template.py .aws-sam/packaged.yaml \
	  --code-bucket-prefix $(ORG_BUCKET_PREFIX) --output .aws-sam/stackset-install.json

# Test processes (pytest-xdist; each has its own test bed on free ports): one per core (auto),
# since tests that hold Lambda deadlines on real seconds must not starve. 0: one process.
# loadgroup: tests marked xdist_group run in one process, in order (the documentation's commands).
PYTEST_WORKERS ?= auto
pytest: venv  ## the test suite, in PYTEST_WORKERS processes (default auto: one per core; 0: one)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: venv tools lint typecheck cfn build pytest  ## everything CI checks
	@echo "make test: all checks passed"

bench: venv tools  ## benchmarks; rewrites docs/benchmarks.md
	$(PY) -m benchmarks.run

clean:  ## remove build output (keeps .venv and .tools)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
