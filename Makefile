# Fusebox: two commands on a fresh Debian machine.
#   make demo   the controller driving a simulated site
#   make test   the whole test suite
SHELL := /bin/bash
SWIFT ?= swift
DEBS := liblua5.4-dev libmodbus-dev libsqlite3-dev libcurl4-openssl-dev libmosquitto-dev pkg-config mbpoll socat libjs-chart.js
# A real browser for the page's end-to-end test, wrk for its load test,
# openssl and curl for the HTTPS test (a certificate, a client), and a real
# MQTT broker for the uplink's.
TEST_DEBS := chromium chromium-driver wrk openssl curl mosquitto
# The independent Modbus peer of the tests (Tests/Support/modbus_peer.py),
# Selenium to drive chromium (Tests/Support/browser_e2e.py), and schemathesis to
# fuzz the REST API against docs/openapi.yaml (Tests/Support/api_fuzz.py).
PYMODBUS := 3.16.1
PYSERIAL := 3.5
SELENIUM := 4.27.1
SCHEMATHESIS := 3.39.16
# The independent MQTT client of the uplink's tests (Tests/Support/mqtt_watch.py).
PAHO := 2.1.0
# The independent OCPP charge point of the tests (Tests/Support/ocpp_station.py).
OCPP := 2.1.0
WEBSOCKETS := 15.0.1

.PHONY: deps install-debs test-deps build test check-sanitizers fuzz soak demo bench fleet ocpp-scale package package-test clean

# Installs the Debian packages that are missing (apt-get update once).
deps:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(DEBS)"

install-debs:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The real peers of the tests: Debian's browser and wrk, Python packages from PyPI.
# (One install-debs for both lists: apt-get update runs once.)
test-deps:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(DEBS) $(TEST_DEBS)"
	@python3 -c "import serial, pymodbus, sys; sys.exit(pymodbus.__version__ != '$(PYMODBUS)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check pymodbus==$(PYMODBUS) pyserial==$(PYSERIAL)
	@python3 -c "import selenium, sys; sys.exit(selenium.__version__ != '$(SELENIUM)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check selenium==$(SELENIUM)
	@python3 -c "import schemathesis, sys; sys.exit(schemathesis.__version__ != '$(SCHEMATHESIS)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS)
	@python3 -c "import paho.mqtt, sys; sys.exit(paho.mqtt.__version__ != '$(PAHO)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check paho-mqtt==$(PAHO)
	@python3 -c "import ocpp, websockets, importlib.metadata as m, sys; sys.exit(m.version('ocpp') != '$(OCPP)')" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check ocpp==$(OCPP) websockets==$(WEBSOCKETS)

build: deps
	$(SWIFT) build

# The tests' scratch files go to a folder of their own each run (in_scratch.sh).
# The suites that time the cycle on the wall clock run alone, after the rest:
# beside sixty suites on two cores, CPU-bound tests hold the task threads, and a
# cycle there would wait for a thread, not for its devices.
WALL_CLOCK = CycleRunnerTests|SiteSetupTests|UplinkTimingTests
test: test-deps
	$(SWIFT) build --build-tests
	Tests/Support/in_scratch.sh $(SWIFT) test --skip-build --skip '$(WALL_CLOCK)'
	Tests/Support/in_scratch.sh $(SWIFT) test --skip-build --filter '$(WALL_CLOCK)'

# The fuzzers for longer than make test runs them, with a new seed each time
# (FUZZ_SECONDS per target, FUZZ_EXAMPLES per API operation, FUZZ_SEED to repeat
# a run). What they find is kept in Tests/FuseboxFuzzTests/Kept/ (docs/reliability.md).
fuzz: test-deps
	$(SWIFT) build --product fusebox
	$(SWIFT) build --product fusebox-dev
	Tests/Support/fuzz.sh

# A simulated week of the demo site at full speed (about 40 minutes here); the
# report is JSON on stdout (docs/reliability.md). Run with malloc as the
# shipped systemd unit sets it, so that the memory measured is the device's.
MALLOC_TUNABLES = glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1
soak: deps
	$(SWIFT) build -c release --product fusebox-dev
	GLIBC_TUNABLES=$(MALLOC_TUNABLES) .build/release/fusebox-dev soak --days 7

# MQTT=mqtt://127.0.0.1:1883 adds the uplink to a broker running there (docs/mqtt.md).
demo: deps
	$(SWIFT) build -c release --product fusebox
	.build/release/fusebox demo $(if $(MQTT),--mqtt $(MQTT))

# The test suite under AddressSanitizer (with LeakSanitizer) and ThreadSanitizer,
# each in its own build folder. Not in .ci/run: each sanitizer build takes about
# 9 minutes on 2 cores, on top of CI's own build (README).
check-sanitizers: test-deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/Support/lsan.supp Tests/Support/in_scratch.sh $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	Tests/Support/in_scratch.sh $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan

# The cycle bench runs `fusebox sim` from beside fusebox-dev: build both.
bench: deps
	$(SWIFT) build -c release --product fusebox
	$(SWIFT) build -c release --product fusebox-dev
	.build/release/fusebox-dev bench

# SITES uplinks (100) publishing once a second to Debian's mosquitto for
# SECONDS_RUN (60), an independent subscriber checking each site's sequence
# numbers, and the broker's CPU (docs/performance.md, "The uplink").
fleet: test-deps
	$(SWIFT) build -c release --product fusebox-dev
	Tests/Support/fleet.sh

# The Debian package a device installs (docs/operations.md): fusebox with the
# Swift runtime linked in, built in a folder of its own (.build-package).
# STATIONS (200) simulated OCPP stations on one fusebox run, beside the same
# site with them silent: the cycle's p99 and the controller's memory.
ocpp-scale: test-deps
	$(SWIFT) build -c release --product fusebox
	Tests/Support/ocpp_scale.sh

package: deps
	SWIFT=$(SWIFT) deploy/make_package.sh

# Installs that package into a fresh Debian 12 root (debootstrap) and runs it
# there against the simulator. Needs root and Debian's mirror; not in .ci/run.
package-test: package
	@$(MAKE) --no-print-directory install-debs PACKAGES="debootstrap"
	Tests/Support/package_test.sh

clean:
	rm -rf .build .build-package .build-debian
