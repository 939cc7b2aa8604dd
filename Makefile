# Fusebox: two commands on a fresh Debian machine.
#   make demo   the controller driving a simulated site
#   make test   the whole test suite
SHELL := /bin/bash
SWIFT ?= swift
DEBS := liblua5.4-dev libmodbus-dev libsqlite3-dev pkg-config mbpoll socat
# The independent Modbus peer of the tests (Tests/Support/modbus_peer.py).
PYMODBUS := 3.16.1
PYSERIAL := 3.5

.PHONY: deps test-deps build test demo bench clean

# Installs the Debian packages that are missing (apt-get update once).
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Python packages the tests use as real peers.
test-deps: deps
	@python3 -c "import serial, pymodbus, sys; sys.exit(pymodbus.__version__ != '$(PYMODBUS)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check pymodbus==$(PYMODBUS) pyserial==$(PYSERIAL)

build: deps
	$(SWIFT) build

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: deps
	$(SWIFT) build -c release --product fusebox
	.build/release/fusebox demo

bench: deps
	$(SWIFT) build -c release --product fusebox
	.build/release/fusebox bench

clean:
	rm -rf .build
