# Quantix build, test and run targets. `make run` and `make test` are all a
# fresh Debian machine needs; both install what is missing first (as root).

GO        ?= go
BIN       := bin
PLUGINDIR := $(BIN)/plugins
TOOLS     := .bin
# protoc comes from Debian 12's protobuf-compiler; the Go generators are pinned
# in go.mod (tool directives), so `make proto` output is byte for byte stable.
PROTOC_VERSION := 3.21.12
PROTOS    := $(shell find proto -name '*.proto' | sort)
TEST_TIMEOUT ?= 25m
# The web console: an npm project in ui/ whose build (npm run build) goes to
# core/webui/dist, which quantixd embeds when built with -tags webui.
UI        := ui
NPM       ?= npm
# npm writes node_modules/.package-lock.json on every install: it stands for
# the installed tree, so `npm ci` runs only when it is missing or older than
# the lock file.
UI_DEPS   := $(UI)/node_modules/.package-lock.json

# The console's browser tests and benchmarks (ui/e2e): Playwright driving
# Debian's Chromium, which `make deps` installs; no browser is downloaded.
UI_E2E    := ui/e2e
CHROMIUM  ?= /usr/bin/chromium

.PHONY: all deps build ui proto test test-ui test-ui-unit test-ui-run screenshots bench bench-ui bench-ui-run ui-e2e-deps lint run clean

all: build

deps:
	@bash scripts/setup-host.sh

# The release binary always has the real console: the UI is built first and
# quantixd embeds it (-tags webui). A plain `go build ./cmd/quantixd` builds
# one without it, which serves a page saying how to build it.
build: ui
	CGO_ENABLED=0 $(GO) build -tags webui -o $(BIN)/quantixd ./cmd/quantixd
	CGO_ENABLED=0 $(GO) build -o $(BIN)/quantix ./cmd/quantix
	@mkdir -p $(PLUGINDIR)
	CGO_ENABLED=1 $(GO) build -o $(PLUGINDIR)/quantix-backend-libvirt ./plugins/libvirt/cmd/quantix-backend-libvirt
	CGO_ENABLED=0 $(GO) build -o $(PLUGINDIR)/quantix-logsink-file ./plugins/logsinks/file/cmd/quantix-logsink-file
	CGO_ENABLED=0 $(GO) build -o $(PLUGINDIR)/quantix-logsink-syslog ./plugins/logsinks/syslog/cmd/quantix-logsink-syslog
	CGO_ENABLED=0 $(GO) build -o $(PLUGINDIR)/quantix-logsink-webhook ./plugins/logsinks/webhook/cmd/quantix-logsink-webhook
	CGO_ENABLED=0 $(GO) build -o $(PLUGINDIR)/quantix-backend-sim ./plugins/sim/cmd/quantix-backend-sim
	@# quantixd refuses plugins others than their owner may replace (umask 002).
	@chmod go-w $(PLUGINDIR) $(PLUGINDIR)/quantix-*

ui: $(UI_DEPS)
	cd $(UI) && $(NPM) run build

$(UI_DEPS): $(UI)/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "npm not found: run 'make deps' (as root) to install Node.js and npm" >&2; exit 1; }
	cd $(UI) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc: go.mod go.sum
	@mkdir -p $(TOOLS)
	$(GO) build -o $(TOOLS)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

proto: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc
	@command -v protoc >/dev/null || { echo "protoc not found: run 'make deps'" >&2; exit 1; }
	@v=$$(protoc --version | awk '{print $$2}'); [ "$$v" = "$(PROTOC_VERSION)" ] || \
		{ echo "protoc $$v found, $(PROTOC_VERSION) needed for byte-identical output" >&2; exit 1; }
	PATH="$(CURDIR)/$(TOOLS):$$PATH" protoc -I proto \
		--go_out=. --go_opt=module=github.com/quantixvm/quantix \
		--go-grpc_out=. --go-grpc_opt=module=github.com/quantixvm/quantix \
		$(PROTOS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	cd $(UI) && $(NPM) run lint && $(NPM) run typecheck

lint: $(UI_DEPS)

test: deps build
	QUANTIX_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@$(MAKE) --no-print-directory test-ui-unit
	@$(MAKE) --no-print-directory test-ui-run

# The console's unit tests (vitest, in Node with a simulated DOM).
test-ui-unit: $(UI_DEPS)
	cd $(UI) && $(NPM) test

# `make test-ui` runs the browser tests alone; UI_E2E_ARGS passes arguments to
# Playwright (`make test-ui UI_E2E_ARGS="--project=sim -g viewer"`).
test-ui: deps build
	@$(MAKE) --no-print-directory test-ui-run

# The tests take a screenshot of every page; they go to $(SCREENSHOTS), out
# of the tree, unless `make screenshots` renews those of docs/screenshots.
SCREENSHOTS ?= $(CURDIR)/$(TOOLS)/screenshots

test-ui-run: ui-e2e-deps
	cd $(UI_E2E) && npx --no-install tsc -p . && QUANTIX_BIN_DIR=$(CURDIR)/$(BIN) QUANTIX_CHROMIUM=$(CHROMIUM) QUANTIX_E2E_SCREENSHOT_DIR=$(SCREENSHOTS) npx --no-install playwright test $(UI_E2E_ARGS)

# `make screenshots` renews docs/screenshots (the README shows them).
screenshots: deps build
	@$(MAKE) --no-print-directory test-ui-run SCREENSHOTS=$(CURDIR)/docs/screenshots UI_E2E_ARGS="--project=sim a11y-screenshots"

# npm ci of the test harness, again only when its lock file changed.
ui-e2e-deps:
	@command -v npm >/dev/null || { echo "npm not found: run 'make deps'" >&2; exit 1; }
	@[ -x $(CHROMIUM) ] || { echo "$(CHROMIUM) not found: run 'make deps' (Debian's chromium)" >&2; exit 1; }
	@if [ ! -f $(UI_E2E)/node_modules/.package-lock.json ] || [ $(UI_E2E)/package-lock.json -nt $(UI_E2E)/node_modules/.package-lock.json ]; then \
		cd $(UI_E2E) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund; \
	fi

bench: deps build
	QUANTIX_BIN_DIR=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchtime 2s -timeout 30m ./...
	@$(MAKE) --no-print-directory bench-ui-run

# The console's benchmarks alone (ui/e2e/bench): they print their figures.
bench-ui: deps build
	@$(MAKE) --no-print-directory bench-ui-run

bench-ui-run: ui-e2e-deps
	cd $(UI_E2E) && QUANTIX_BIN_DIR=$(CURDIR)/$(BIN) QUANTIX_CHROMIUM=$(CHROMIUM) npx --no-install playwright test -c bench/playwright.config.ts

# `make run HTTP_ADDR=127.0.0.1:9090` serves the API elsewhere.
run: HTTP_ADDR ?= 127.0.0.1:8080
run: deps build
	@echo ""
	@echo "quantixd dev: REST API on http://$(HTTP_ADDR)/api, inventory in ./quantix-data, Ctrl-C stops it."
	@echo "Every call but /api/health needs credentials. The first start makes user admin and writes"
	@echo "its password to ./quantix-data/admin-password and an admin API token to ./quantix-data/admin-token"
	@echo "(mode 0600)."
	@echo ""
	@echo "Web console: http://$(HTTP_ADDR)/  (log in as admin with the password in ./quantix-data/admin-password)"
	@echo ""
	@echo "In another shell, in this directory:"
	@echo "  export QUANTIX_ADDR=http://$(HTTP_ADDR) QUANTIX_TOKEN=\$$(cat quantix-data/admin-token)"
	@echo "  bin/quantix vm create first-vm -vcpus 1 -memory 64    # 64 MiB, no disk: boots into the firmware"
	@echo "  bin/quantix vm start first-vm"
	@echo "  # a Linux guest that boots in seconds (README, 'A real guest'):"
	@echo "  #   scripts/build-test-guest.sh /var/lib/quantix/guest"
	@echo "  #   bin/quantix vm create guest-1 -memory 256 -kernel /var/lib/quantix/guest/vmlinuz \\"
	@echo "  #     -initrd /var/lib/quantix/guest/initrd.img -cmdline 'console=ttyS0 quiet'"
	@echo "  curl -s -H \"Authorization: Bearer \$$QUANTIX_TOKEN\" 'http://$(HTTP_ADDR)/api/vms/first-vm/logs?lines=20'"
	@echo ""
	$(BIN)/quantixd dev -http-addr $(HTTP_ADDR)

clean:
	rm -rf $(BIN) $(TOOLS) core/webui/dist
