# The two commands a newcomer needs: `make demo` and `make test`. Both set everything up.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tiergate-installed

.PHONY: help setup demo test test-slow lint crds dashboard bench bench-compare bench-replicas bench-capacity bench-replay bench-classifier train-classifier soak clean

help:
	@echo "make demo      set up and run the demo (simulated tiers + gateway in local mode)"
	@echo "make test      set up and run the test suite (what CI runs)"
	@echo "make test-slow run only the slow suites"
	@echo "make lint      ruff, mypy, import contracts and the dead-code check"
	@echo "make crds      regenerate crds/ from the pydantic models"
	@echo "make dashboard copy the chart's Grafana dashboard to docs/grafana/ (after editing it)"
	@echo "make bench     run the benchmarks and print their figures"
	@echo "make bench-compare  the same, with LiteLLM's proxy measured side by side"
	@echo "make bench-replicas  replica picking against round-robin, least-connections and random (nginx), open loop"
	@echo "make bench-capacity  a simulated day: GPU pools sized for peak or mean against autoscaling with fallback"
	@echo "make bench-replay  tiergate replay's offline speed on a day of synthetic traffic, one core"
	@echo "make bench-classifier  what the task classifier costs per request (p50, p99) and in memory, one core"
	@echo "make train-classifier  retrain the task classifier's learned head on the corpus's train split"
	@echo "make soak      fault-injection soak: 5,000 requests through failing tiers"
	@echo "make docs      regenerate docs/api-reference.md from the CRDs"
	@echo "make image     build the container images tiergate:dev and tiergate-sim:dev (needs docker)"
	@echo "make kind-up   create the kind cluster of kind-config.yaml (needs docker, kind, kubectl)"
	@echo "make kind-load build the images and load them into the kind cluster"
	@echo "make kind-install  helm upgrade --install the chart with ci/kind-values.yaml (needs kubectl, helm)"
	@echo "make kind-autoscaling  KEDA and Prometheus (their Helm charts) into the kind cluster, then the chart pointed at them"
	@echo "make kind-e2e  all of the above, then pytest -m e2e tests/e2e against the cluster"
	@echo "make kind-down delete the kind cluster"

$(STAMP): pyproject.toml scripts/bootstrap
	VENV=$(VENV) scripts/bootstrap
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/tiergate demo

# Style (ruff), types (mypy, configured in pyproject.toml), the layers (import-linter, .importlinter)
# and dead code (vulture, with the reasons for its exceptions in scripts/vulture_whitelist.py).
lint: $(STAMP)
	$(BIN)/ruff check operator gateway cli sim tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture operator gateway cli sim scripts/vulture_whitelist.py --min-confidence 60

test: $(STAMP) lint
	@scripts/system-deps
	$(BIN)/pytest -q

test-slow: $(STAMP)
	@scripts/system-deps
	$(BIN)/pytest -q -m slow

crds: $(STAMP)
	$(BIN)/python scripts/generate_crds.py
	$(BIN)/python scripts/sync_chart_crds.py

# charts/tiergate/dashboards/ is the source of truth; docs/grafana/ keeps copies for importing by hand.
dashboard: $(STAMP)
	$(BIN)/python scripts/sync_dashboard.py

bench: $(STAMP)
	@scripts/system-deps
	$(BIN)/python bench/micro.py
	$(BIN)/python bench/gateway_bench.py
	$(BIN)/python bench/operator_bench.py
	$(BIN)/python bench/replay_bench.py
	$(BIN)/python bench/classifier_cost.py

# LiteLLM's proxy in its own virtual environment, then the suite with its row filled in.
bench-compare: $(STAMP)
	@[ -x .venv-litellm/bin/litellm ] || { py=$$(scripts/find-python) && echo "installing litellm[proxy] into .venv-litellm" && $$py -m venv .venv-litellm && .venv-litellm/bin/pip install -q 'litellm[proxy]'; }
	$(MAKE) bench

bench-replicas: $(STAMP)
	@scripts/system-deps --bench
	PATH="$$PATH:/usr/sbin" $(BIN)/python bench/replicas_bench.py

# The classifier's learned head from corpus/splits/train.jsonl (seeded; writes core/model/task-head.npz).
train-classifier: $(STAMP)
	$(BIN)/pip install -q -e '.[test,train]'
	$(BIN)/python scripts/train_classifier.py

bench-replay: $(STAMP)
	$(BIN)/python bench/replay_bench.py

# What the task classifier costs per request (issue 18's goals): chat-sized, an 8,000-token document, memory.
bench-classifier: $(STAMP)
	$(BIN)/python bench/classifier_cost.py

# TierGate's dispatcher, cold-start book and a model of KEDA on virtual time (no cluster, no GPU).
bench-capacity: $(STAMP)
	$(BIN)/python bench/capacity_bench.py

soak: $(STAMP)
	$(BIN)/python bench/soak.py --requests 5000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# ---- Container image, kind cluster and end-to-end tests -------------------------------------------
# Every target below says what it does and stops at once, naming the tool it lacks. None of them is
# needed by `make test`; they need Docker, kind, kubectl and Helm (docs/install.md).
.PHONY: docs image kind-up kind-load kind-install kind-autoscaling kind-e2e kind-down

IMAGE ?= tiergate
SIM_IMAGE ?= $(IMAGE)-sim
TAG ?= dev
KIND_CLUSTER ?= tiergate
KIND_CONTEXT := kind-$(KIND_CLUSTER)
RELEASE ?= tiergate
RELEASE_NAMESPACE ?= tiergate
# More values files for kind-install, e.g. charts/tiergate/ci/kind-autoscaling-values.yaml (kind-autoscaling sets it).
KIND_EXTRA_VALUES ?=
# Chart versions of KEDA (kedacore/keda) and kube-prometheus-stack; empty: the repositories' latest.
KEDA_VERSION ?=
PROMETHEUS_STACK_VERSION ?=
KEDA_CHARTS := https://kedacore.github.io/charts
PROMETHEUS_CHARTS := https://prometheus-community.github.io/helm-charts

# $(call require,TOOL,where to get it): fail with a message that names the missing tool.
require = command -v $(1) >/dev/null 2>&1 || { echo "make $@: '$(1)' is required but not found on PATH; install it: $(2)" >&2; exit 127; }
DOCKER_URL := https://docs.docker.com/engine/install/
KIND_URL := https://kind.sigs.k8s.io/docs/user/quick-start/\#installation
KUBECTL_URL := https://kubernetes.io/docs/tasks/tools/
HELM_URL := https://helm.sh/docs/intro/install/
# The docker client alone is not enough: its engine must answer.
docker_engine = docker info >/dev/null 2>&1 || { echo "make $@: 'docker' is installed but its engine does not answer (docker info failed); start Docker or use a machine that has one" >&2; exit 1; }

docs: $(STAMP)
	@echo "==> docs: docs/api-reference.md from crds/"
	$(BIN)/python scripts/generate_api_docs.py

image:
	@$(call require,docker,$(DOCKER_URL))
	@$(docker_engine)
	@echo "==> image: $(IMAGE):$(TAG) (target runtime) and $(SIM_IMAGE):$(TAG) (target sim) from Dockerfile"
	docker build --target runtime --build-arg VERSION=$(TAG) -t $(IMAGE):$(TAG) .
	docker build --target sim --build-arg VERSION=$(TAG) -t $(SIM_IMAGE):$(TAG) .

kind-up:
	@$(call require,docker,$(DOCKER_URL))
	@$(call require,kind,$(KIND_URL))
	@$(call require,kubectl,$(KUBECTL_URL))
	@$(docker_engine)
	@echo "==> kind-up: cluster '$(KIND_CLUSTER)' from kind-config.yaml (pools system, gpu-small, gpu-large)"
	@if kind get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
		echo "kind cluster '$(KIND_CLUSTER)' already exists"; \
	else \
		echo "kind create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 180s"; \
		kind create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 180s; \
	fi
	kubectl --context $(KIND_CONTEXT) get nodes -L tiergate.io/pool

kind-load: image
	@$(call require,kind,$(KIND_URL))
	@echo "==> kind-load: $(IMAGE):$(TAG) and $(SIM_IMAGE):$(TAG) into the nodes of '$(KIND_CLUSTER)'"
	kind load docker-image --name $(KIND_CLUSTER) $(IMAGE):$(TAG) $(SIM_IMAGE):$(TAG)

kind-install:
	@$(call require,kubectl,$(KUBECTL_URL))
	@$(call require,helm,$(HELM_URL))
	@echo "==> kind-install: release '$(RELEASE)' of charts/tiergate into namespace '$(RELEASE_NAMESPACE)' with ci/kind-values.yaml"
	helm upgrade --install $(RELEASE) charts/tiergate --kube-context $(KIND_CONTEXT) \
		--namespace $(RELEASE_NAMESPACE) --create-namespace \
		--values charts/tiergate/ci/kind-values.yaml $(foreach file,$(KIND_EXTRA_VALUES),--values $(file)) \
		--set image.tag=$(TAG) --wait --timeout 5m
	kubectl --context $(KIND_CONTEXT) -n $(RELEASE_NAMESPACE) get deployments,services,modeltiers,routingpolicies

# KEDA scales autoscaled tiers; Prometheus (kube-prometheus-stack, trimmed to the Prometheus Operator and one
# Prometheus) scrapes the vLLM pods and the gateway for it. Neither is part of TierGate's chart (docs/autoscaling.md).
kind-autoscaling:
	@$(call require,kubectl,$(KUBECTL_URL))
	@$(call require,helm,$(HELM_URL))
	@echo "==> kind-autoscaling: KEDA (kedacore/keda, namespace keda) and Prometheus (kube-prometheus-stack, namespace monitoring) into context $(KIND_CONTEXT), then the chart with ci/kind-autoscaling-values.yaml"
	helm repo add kedacore $(KEDA_CHARTS) --force-update
	helm repo add prometheus-community $(PROMETHEUS_CHARTS) --force-update
	helm upgrade --install keda kedacore/keda --kube-context $(KIND_CONTEXT) \
		--namespace keda --create-namespace $(if $(KEDA_VERSION),--version $(KEDA_VERSION)) \
		--wait --timeout 5m
	helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack --kube-context $(KIND_CONTEXT) \
		--namespace monitoring --create-namespace $(if $(PROMETHEUS_STACK_VERSION),--version $(PROMETHEUS_STACK_VERSION)) \
		--set grafana.enabled=false --set alertmanager.enabled=false --set nodeExporter.enabled=false \
		--set kubeStateMetrics.enabled=false --set defaultRules.create=false \
		--set kubeEtcd.enabled=false --set kubeControllerManager.enabled=false --set kubeScheduler.enabled=false \
		--set kubeProxy.enabled=false --set prometheus.prometheusSpec.scrapeInterval=15s \
		--wait --timeout 10m
	$(MAKE) --no-print-directory kind-install KIND_EXTRA_VALUES=charts/tiergate/ci/kind-autoscaling-values.yaml
	kubectl --context $(KIND_CONTEXT) get apiservices v1beta1.external.metrics.k8s.io

kind-e2e:
	@$(call require,docker,$(DOCKER_URL))
	@$(call require,kind,$(KIND_URL))
	@$(call require,kubectl,$(KUBECTL_URL))
	@$(call require,helm,$(HELM_URL))
	@echo "==> kind-e2e: cluster, images, chart, then pytest -m e2e tests/e2e against context $(KIND_CONTEXT)"
	$(MAKE) --no-print-directory kind-up kind-load kind-install setup
	TIERGATE_E2E_CONTEXT=$(KIND_CONTEXT) TIERGATE_E2E_RELEASE=$(RELEASE) TIERGATE_E2E_RELEASE_NAMESPACE=$(RELEASE_NAMESPACE) \
		$(BIN)/pytest -m e2e tests/e2e -v

kind-down:
	@$(call require,kind,$(KIND_URL))
	@echo "==> kind-down: delete the kind cluster '$(KIND_CLUSTER)'"
	kind delete cluster --name $(KIND_CLUSTER)
