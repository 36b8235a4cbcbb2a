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
SAM_VERSION     ?= 1.170.0
CHECKOV_VERSION ?= 3.3.30
# sam build looks for `python3.13` on PATH: the project venv provides it, whatever the machine has.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
CFN_TEMPLATES := template.yaml $(wildcard examples/*.yaml)

.PHONY: help venv tools demo test lint typecheck cfn build pytest bench fuzz clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	test -x $(PY) || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed  ## create .venv (Python 3.13) with the package and dev tools

# SAM CLI and checkov each pin their own boto3/botocore, so each lives in its own environment.
# The stamp names the version, so bumping SAM_VERSION or CHECKOV_VERSION reinstalls.
$(TOOLS)/sam/.installed-$(SAM_VERSION):
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	$(PY313) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install -q aws-sam-cli==$(SAM_VERSION)
	touch $@

$(TOOLS)/checkov/.installed-$(CHECKOV_VERSION):
	@test -n "$(PY313)" || { echo "Python 3.13 is required (see scripts/find-python313)"; exit 1; }
	$(PY313) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(TOOLS)/sam/.installed-$(SAM_VERSION) $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)  ## install SAM CLI (with cfn-lint) and checkov

demo: venv  ## the main job, locally: test bed + jobs of every kind + a guard Create and Delete as CloudFormation sends them
	$(PY) -m jobjanitor_testbed.demo

lint: venv  ## ruff (lint and format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv  ## mypy, strict on functions/
	$(VENV)/bin/mypy

cfn: tools  ## sam validate --lint, cfn-lint and checkov on every template
	$(SAM) validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(CFNLINT) $(CFN_TEMPLATES)
	$(CHECKOV) --quiet --compact --framework cloudformation --config-file .checkov.yaml $(addprefix -f ,$(CFN_TEMPLATES))

build: venv tools  ## sam build (python3.13, arm64) into .aws-sam/
	$(SAM) build --template template.yaml

pytest: venv  ## the test suite
	$(PY) -m pytest

test: venv tools lint typecheck cfn build pytest  ## everything CI checks
	@echo "make test: all checks passed"

bench: venv tools  ## benchmarks; rewrites docs/benchmarks.md
	$(PY) -m benchmarks.run

clean:  ## remove build output (keeps .venv and .tools)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
