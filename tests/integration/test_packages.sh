#!/usr/bin/env bash
# The packages: `make deb` and `make rpm` build them; the .deb is installed on
# this machine, a one-node cluster runs jobs through the installed plugin,
# Prolog and Epilog, and the package is purged again (also on failure).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
T=$(mktemp -d /tmp/cairn-packages.XXXXXX)
chmod 755 "$T" # the cluster's state lives below it, read by the test user's jobs
STATE=$T/cluster
export CAIRN_TEST_STATE=$STATE
INSTALLED=0
W=""
cleanup() {
	"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	[ $INSTALLED = 1 ] && dpkg --purge cairn >/dev/null 2>&1
	[ -n "$W" ] && rm -rf "$W"
	rm -rf "$T"
}
trap cleanup EXIT
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
PLUGINDIR=/usr/lib/$MULTIARCH/slurm-wlm

# ---------------------------------------------------------------- the .deb
if ! make -C "$REPO" deb BUILD="$T/build" >"$T/deb.log" 2>&1; then
	fail "packages: make deb builds a package" "$(tail -n 5 "$T/deb.log")"
	exit 1
fi
DEB=$(ls "$T"/build/deb/cairn_*_*.deb 2>/dev/null | head -n 1)
check "packages: make deb builds a package" [ -f "$DEB" ]
check "packages: the .deb pins the Slurm release it was built for" \
	sh -c "dpkg-deb -f '$DEB' Depends | grep -Eq 'libslurm[0-9]+ \\(<< [0-9]+\\.[0-9]+\\.99\\)'"
files=$(dpkg-deb -c "$DEB" | awk '{ print $6 }')
for f in usr/bin/cairn usr/sbin/cairn-prolog usr/sbin/cairn-epilog "${PLUGINDIR#/}/spank_cairn.so" \
	"${PLUGINDIR#/}/cairn-srun" usr/share/man/man1/cairn.1.gz usr/share/man/man5/cairn.conf.5.gz \
	usr/share/man/man8/cairn-spank.8.gz usr/share/doc/cairn/examples/cairn.conf \
	etc/slurm/plugstack.conf.d/cairn.conf usr/share/cairn/slurm-version; do
	check "packages: the .deb holds /$f" grep -qx "\./$f" <<<"$files"
done

if dpkg-query -W -f='${Status}' cairn 2>/dev/null | grep -q 'install ok installed'; then
	skip "packages: the .deb installs and runs jobs" "a cairn package is installed on this machine already; not replacing it"
else
	if dpkg -i "$DEB" >"$T/dpkg.log" 2>&1; then
		INSTALLED=1
	fi
	check "packages: dpkg -i installs the .deb" [ $INSTALLED = 1 ]
	[ $INSTALLED = 1 ] || sed 's/^/  | /' "$T/dpkg.log" >&2
	check "packages: the installed cairn runs" sh -c "/usr/bin/cairn --version | grep -q '^cairn '"
	check "packages: the plugin is in Slurm's plugin directory, cairn-srun beside it" \
		bash -c "[ -f '$PLUGINDIR/spank_cairn.so' ] && [ -x '$PLUGINDIR/cairn-srun' ]"
	check "packages: the plugin exports only the SPANK symbols" \
		sh -c "! nm -D --defined-only '$PLUGINDIR/spank_cairn.so' | awk '{ print \$3 }' | grep -Ev '^(slurm_spank_|plugin_|spank_)' | grep -q ."
	check "packages: the plugstack.conf.d line is there, commented out" \
		grep -qx "#required $PLUGINDIR/spank_cairn.so conf=/etc/slurm/cairn.conf" /etc/slurm/plugstack.conf.d/cairn.conf
	check "packages: the Slurm version built for is recorded" \
		[ "$(cat /usr/share/cairn/slurm-version)" = "$(dpkg-query -W -f='${Version}' libslurm-dev)" ]
	check "packages: the man pages are installed" sh -c "man -w cairn >/dev/null && man -w 5 cairn.conf >/dev/null"
	for b in /usr/bin/cairn /usr/sbin/cairn-prolog "$PLUGINDIR/spank_cairn.so"; do
		check "packages: $b is hardened (stack protector, fortify, full RELRO)" \
			sh -c "objdump -T '$b' | grep -q __stack_chk_fail && objdump -T '$b' | grep -q '_chk' && readelf -d '$b' | grep -q BIND_NOW && readelf -l '$b' | grep -q GNU_RELRO"
	done

	# A job through the installed plugin, Prolog and Epilog, twice.
	export CAIRN_CLUSTER_PROLOG=/usr/sbin/cairn-prolog CAIRN_CLUSTER_EPILOG=/usr/sbin/cairn-epilog
	export CAIRN_CLUSTER_SPANK=$PLUGINDIR/spank_cairn.so
	if env_lines=$("$REPO/tests/cluster" up --state "$STATE" --clean --no-install 2>"$T/up.log"); then
		eval "$env_lines"
		pass "packages: a cluster comes up with the installed Cairn"
		U=$CAIRN_TEST_USER
		W=$(getent passwd "$U" | cut -d: -f6)/cairn-pkg.$$
		install -d -o "$U" "$W"
		printf '#!/bin/bash\n# sandbox\n# volume: pkg-vol state\necho run >> state/log\necho "runs=$(wc -l < state/log) init=$(cat /proc/1/comm)"\n' >"$W/job.sh"
		chown "$U" "$W/job.sh"
		j1=$(SUBMIT_DIR=$W submit_wait "$U" job.sh -o "$W/out-%j.txt")
		j2=$(SUBMIT_DIR=$W submit_wait "$U" job.sh -o "$W/out-%j.txt")
		check "packages: a job through the installed plugin runs sandboxed with its volume" \
			grep -qx 'runs=1 init=cairn-init' "$W/out-$j1.txt"
		check "packages: the next job finds the volume's state" grep -qx 'runs=2 init=cairn-init' "$W/out-$j2.txt"
		"$REPO/tests/cluster" down --state "$STATE" >/dev/null 2>&1
	else
		fail "packages: a cluster comes up with the installed Cairn" "$(tail -n 3 "$T/up.log")"
	fi
	dpkg --purge cairn >"$T/purge.log" 2>&1 && INSTALLED=0
	check "packages: dpkg --purge removes it" \
		bash -c "[ $INSTALLED = 0 ] && [ ! -e /usr/bin/cairn ] && [ ! -e '$PLUGINDIR/spank_cairn.so' ] && [ ! -e /etc/slurm/plugstack.conf.d/cairn.conf ]"
fi

# ---------------------------------------------------------------- the RPM
if command -v rpmbuild >/dev/null; then
	if make -C "$REPO" rpm BUILD="$T/build" >"$T/rpm.log" 2>&1; then
		RPM=$(find "$T/build/rpm/RPMS" -name 'cairn-*.rpm' | head -n 1)
	else
		RPM=""
		sed 's/^/  | /' "$T/rpm.log" | tail -n 10 >&2
	fi
	check "packages: make rpm builds an RPM" [ -n "$RPM" ]
	if [ -n "$RPM" ]; then
		list=$(rpm -qlp "$RPM" 2>/dev/null)
		check "packages: the RPM holds the programs, the plugin and cairn-srun, the man pages" \
			bash -c "grep -qx /usr/bin/cairn <<<'$list' && grep -qx /usr/sbin/cairn-prolog <<<'$list' && grep -q '/slurm/spank_cairn.so\$' <<<'$list' && grep -q '/slurm/cairn-srun\$' <<<'$list' && grep -q 'man8/cairn-spank.8' <<<'$list'"
	fi
else
	skip "packages: make rpm builds an RPM" "rpmbuild is not installed (make deps installs it)"
fi
finish
