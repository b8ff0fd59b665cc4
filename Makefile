# SPDX-License-Identifier: GPL-2.0
#
# ksmmod: Kernel Samepage Merging as a loadable module.
#
#   make                      build ksmmod.ko for the running kernel
#   make KERNELRELEASE=<rel>  ... for another installed kernel (or KDIR=<build dir>)
#   make module-debug         build with -DDEBUG (pr_debug messages)
#   make ksmmodctl               build the CLI (tools/ksmmodctl/ksmmodctl)
#   make check                the test suite: boots Debian's 6.1 and 6.12 kernels in QEMU
#                             (KERNELS="6.12" to run one); run as root on Debian 12
#   make demo                 boot the 6.12 guest, load the module, show `ksmmodctl status`
#   make bench                ksmmod vs the kernel's KSM in one guest (bench/results/)
#   make deb                  Debian packages ksmmod-dkms and ksmmod-tools in build/deb
#                             (debhelper + dh-dkms, lintian; DEB_VERSION=V overrides)
#   make dkms-install         install the source with DKMS and build it for this kernel
#   make dkms-remove          remove it from DKMS again
#   make style                checkpatch.pl (from the linux-source package)

KERNELRELEASE ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KERNELRELEASE)/build
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

module-debug:
	$(MAKE) -C $(KDIR) M=$(CURDIR) KSMMOD_DEBUG=y modules

ksmmodctl:
	$(MAKE) -C tools/ksmmodctl

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	$(MAKE) -C tools/ksmmodctl clean
	rm -rf build

check:
	scripts/check.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

# the soak alone, DURATION long (seconds or 10m, 2h; default 5m), on the debug kernel
soak:
	scripts/soak.sh $(DURATION)

deb:
	scripts/deb.sh

dkms-install:
	rm -rf /usr/src/ksmmod-$(VERSION)
	mkdir -p /usr/src/ksmmod-$(VERSION)
	cp -r Kbuild compat.mk dkms.conf src include /usr/src/ksmmod-$(VERSION)/
	dkms add -m ksmmod -v $(VERSION)
	dkms build -m ksmmod -v $(VERSION) -k $(KERNELRELEASE)
	dkms install -m ksmmod -v $(VERSION) -k $(KERNELRELEASE)

dkms-remove:
	dkms remove -m ksmmod -v $(VERSION) --all || true
	rm -rf /usr/src/ksmmod-$(VERSION)

style:
	scripts/style.sh

.PHONY: all module module-debug ksmmodctl clean check demo bench soak deb dkms-install dkms-remove \
	style
