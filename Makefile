# Convenience wrapper over CMake: `make` builds into build/, `make test` runs every test.
BUILD ?= build
JOBS ?= $(shell nproc)

PREFIX ?= /usr/local

.PHONY: all deps configure test check asan fuzz demo clean conformance install

all: configure
	cmake --build $(BUILD) -j $(JOBS)

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

deps:
	scripts/deps.sh

test: all
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The library, header, pkg-config file, programs, tetherd's systemd unit and man pages under
# PREFIX (DESTDIR=DIR stages them for a package).
install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

conformance: all
	$(BUILD)/bin/tether-conformance -q

clean:
	rm -rf build build-asan build-fuzz
