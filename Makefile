# Entry points a person types. Each installs what it needs first (scripts/deps.sh,
# idempotent), then builds with CMake and runs.
#   make demo   build and run Aisle on the shipped demo data at 127.0.0.1:8080
#   make test   build with ASan+UBSan and run every test through CTest
#   make bench  release build plus the benchmarks in bench/

JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test demo bench fuzz clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/release -j $(JOBS)

# The release build is compiled too (optimised builds see warnings that -O0 does not),
# then the tests run on the sanitizer build.
test: build
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DAISLE_SANITIZE=ON >/dev/null
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 2

demo: build
	@bash scripts/demo.sh

bench: deps
	@bash scripts/deps.sh --bench
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build/release -j $(JOBS)
	bash bench/http.sh
	bash bench/ingest.sh
	bash bench/replay.sh

fuzz: deps
	$(MAKE) -C fuzz smoke

clean:
	rm -rf build
