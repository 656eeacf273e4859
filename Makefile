# Cairn: persistent volumes and sandboxes for Slurm jobs.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/cairn
MANDIR ?= $(PREFIX)/share/man
SLURM_PLUGINDIR ?= $(shell pkg-config --variable=libdir slurm 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)/slurm-wlm
PLUGINDIR ?= $(PREFIX)/lib/cairn

CC ?= gcc
CSTD = -std=c11 -D_GNU_SOURCE
WARN = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
OPT ?= -O2 -g
HARDEN = -fstack-protector-strong -D_FORTIFY_SOURCE=2
CFLAGS ?=
XML_CFLAGS := $(shell xml2-config --cflags 2>/dev/null || echo -I/usr/include/libxml2)
ALL_CFLAGS = $(CSTD) $(WARN) $(OPT) $(HARDEN) -fPIC -Icommon -Islurm_common $(XML_CFLAGS) $(CFLAGS)
LDFLAGS ?=
ALL_LDFLAGS = -Wl,-z,relro -Wl,-z,now $(LDFLAGS)
LIBS = -ljansson -lcrypto -lcurl -lseccomp -lcgroup -lxml2

BUILD ?= build
VERSION := $(shell sed -n 's/.*CAIRN_VERSION "\(.*\)".*/\1/p' cli/commands.h)
# The source tree without build outputs, for the packages.
SOURCE_TAR = tar --exclude=./build --exclude=./build-asan --exclude=./.git -cf - .
COMMON_SRC = $(wildcard common/*.c)
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)
PLUGIN_SRC = $(wildcard spank_plugin/*.c)
PLUGIN_OBJ = $(PLUGIN_SRC:%.c=$(BUILD)/%.o)
CLI_SRC = $(wildcard cli/*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PROGS = $(BUILD)/spank_cairn.so $(BUILD)/cairn-srun $(BUILD)/cairn-prolog $(BUILD)/cairn-epilog $(BUILD)/cairn

.PHONY: all install deps check unit asan demo bench clean format format-check lint-c deb rpm
all: $(PROGS)

$(BUILD)/%.o: %.c $(wildcard common/*.h spank_plugin/*.h cli/*.h slurm_common/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libcairn.a: $(COMMON_OBJ)
	ar rcs $@ $^

$(BUILD)/spank_cairn.so: $(PLUGIN_OBJ) $(BUILD)/libcairn.a spank_plugin/exports.map
	$(CC) -shared $(ALL_LDFLAGS) -Wl,--version-script=spank_plugin/exports.map -o $@ $(PLUGIN_OBJ) $(BUILD)/libcairn.a $(LIBS)

# srun inside a full sandbox: installed beside the plugin, which finds it there.
$(BUILD)/cairn-srun: $(BUILD)/spank_plugin/srun/client.o $(BUILD)/libcairn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The Prolog and Epilog talk to slurmctld through libslurm; common/ does not.
$(BUILD)/cairn-prolog: $(BUILD)/prolog/main.o $(BUILD)/slurm_common/job_info.o $(BUILD)/libcairn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lslurm

$(BUILD)/cairn-epilog: $(BUILD)/epilog/main.o $(BUILD)/slurm_common/job_info.o $(BUILD)/libcairn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lslurm

$(BUILD)/cairn: $(CLI_OBJ) $(BUILD)/libcairn.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libcairn.a
	@mkdir -p $(dir $@)
	@echo "  CCLD $@"; $(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libcairn.a $(LIBS)

# Benchmark programs, linked like everything else.
$(BUILD)/bench/%: bench/%.c $(BUILD)/libcairn.a
	@mkdir -p $(dir $@)
	@echo "  CCLD $@"; $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libcairn.a $(LIBS) -lm

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD)/cairn $(DESTDIR)$(BINDIR)/cairn
	install -m 0755 $(BUILD)/cairn-prolog $(DESTDIR)$(SBINDIR)/cairn-prolog
	install -m 0755 $(BUILD)/cairn-epilog $(DESTDIR)$(SBINDIR)/cairn-epilog
	install -m 0755 $(BUILD)/spank_cairn.so $(DESTDIR)$(PLUGINDIR)/spank_cairn.so
	install -m 0755 $(BUILD)/cairn-srun $(DESTDIR)$(PLUGINDIR)/cairn-srun
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for m in doc/*.1 doc/*.5 doc/*.8; do [ -f "$$m" ] || continue; \
		install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man$${m##*.}/; done

deps:
	./packaging/install-deps

unit: $(UNIT_BIN)

# Unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		HARDEN= LDFLAGS="-fsanitize=address,undefined" unit

check: deps
	$(MAKE) all unit
	$(MAKE) asan
	$(MAKE) lint-c format-check
	./tests/run

demo: deps
	$(MAKE) all
	./tests/demo

bench: deps
	$(MAKE) all
	./bench/run

format:
	clang-format -i $(wildcard */*.c */*.h spank_plugin/srun/*.c tests/unit/*.c tests/unit/*.h)

format-check:
	clang-format --dry-run --Werror $(wildcard */*.c */*.h spank_plugin/srun/*.c tests/unit/*.c tests/unit/*.h)

lint-c:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -Icommon \
		-Islurm_common common spank_plugin prolog epilog cli slurm_common

# Debian package (dh, hardening on), built against the installed libslurm-dev.
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/cairn-$(VERSION)
	$(SOURCE_TAR) | tar -xf - -C $(BUILD)/deb/cairn-$(VERSION)
	cp -r packaging/debian $(BUILD)/deb/cairn-$(VERSION)/debian
	cd $(BUILD)/deb/cairn-$(VERSION) && dpkg-buildpackage -b -us -uc
	@ls $(BUILD)/deb/*.deb

# RPM, from packaging/cairn.spec (--nodeps: the build dependencies are checked
# by the build itself, so that an RPM can also be made on a Debian machine).
rpm:
	rm -rf $(BUILD)/rpm && mkdir -p $(BUILD)/rpm/SOURCES $(BUILD)/rpm/cairn-$(VERSION)
	$(SOURCE_TAR) | tar -xf - -C $(BUILD)/rpm/cairn-$(VERSION)
	tar -czf $(BUILD)/rpm/SOURCES/cairn-$(VERSION).tar.gz -C $(BUILD)/rpm cairn-$(VERSION)
	rpmbuild -bb --nodeps --define "_topdir $(abspath $(BUILD)/rpm)" \
		--define "cairn_version $(VERSION)" \
		--define "slurm_version $$(pkg-config --modversion slurm 2>/dev/null || echo unknown)" \
		packaging/cairn.spec
	@find $(BUILD)/rpm/RPMS -name '*.rpm'

clean:
	rm -rf build build-asan
