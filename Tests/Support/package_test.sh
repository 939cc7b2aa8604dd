#!/usr/bin/env bash
# make package-test: installs the package `make package` built into a fresh
# Debian 12 root (debootstrap, minbase: no Swift toolchain, no compiler), then
# there: ldd shows only Debian's libraries, `fusebox check` passes on the
# example site, and `fusebox run` regulates the simulated site of the example
# (`fusebox sim`) for 20 s as the package's system user, in a network
# namespace of its own. Needs root, debootstrap and Debian's mirror. Not in CI:
# the first root takes a few minutes to fetch (it is kept in .build-debian/).
set -euo pipefail
cd "$(dirname "$0")/../.."
base=$PWD/.build-debian/root
root=$PWD/.build-debian/test-root
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
deb=$(ls -t .build-package/fusebox_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "package-test: no package; run make package first" >&2; exit 1; }

fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
if [ ! -x "$base/bin/sh" ]; then
    rm -rf "$base"
    debootstrap --variant=minbase bookworm "$base" "$mirror"
fi

cleanup() {
    for m in "$root/proc" "$root/dev/pts" "$root/dev"; do mountpoint -q "$m" && umount -l "$m"; done
    true
}
trap cleanup EXIT
cleanup
rm -rf "$root"
cp -a "$base" "$root"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/fusebox.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

echo "package-test: installing $(basename "$deb") into a fresh Debian $(cat "$root/etc/debian_version")"
in_root apt-get update -qq
in_root apt-get install -y -qq /tmp/fusebox.deb > .build-debian/install.log 2>&1 \
    || { cat .build-debian/install.log; fail "apt-get install"; }

in_root sh -c 'command -v swift swiftc' && fail "the root has a Swift toolchain"
links=$(in_root ldd /usr/bin/fusebox)
echo "$links" | grep -E "lua|modbus|sqlite|curl|stdc|libc\.|swift|Foundation" | sed 's/^/  ldd: /'
echo "$links" | grep -Eiq 'not found|libswift|libFoundation|libdispatch|libTesting|XCTest|/opt/swift' \
    && fail "fusebox links something a device does not have"
in_root id fusebox > /dev/null || fail "no system user fusebox"
[ -e "$root/etc/fusebox/site.yaml" ] || fail "no /etc/fusebox/site.yaml"
[ -e "$root/lib/systemd/system/fusebox.service" ] || fail "no systemd unit"

in_root fusebox check --config /etc/fusebox/site.yaml || fail "fusebox check"

# The example site drives the simulator on 127.0.0.1: both run in a network
# namespace of their own, so that no port of the host is taken or reached.
log=.build-debian/run.log
cat > "$root/tmp/run_site.sh" <<'SCRIPT'
fusebox sim --config /usr/share/fusebox/examples/sim.yaml > /tmp/sim.log 2>&1 &
sim=$!
for i in $(seq 50); do grep -q ^ready /tmp/sim.log && break; sleep 0.2; done
cd /var/lib/fusebox
# The example reads its ripple contact from this file ("0": open, normal operation).
echo 0 > ripple.state
timeout -s TERM 20 setpriv --reuid=fusebox --regid=fusebox --init-groups \
    fusebox run --config /etc/fusebox/site.yaml &
run=$!
# The login page, from /usr/share/fusebox/page, through bash's /dev/tcp.
sleep 8
bash -c 'exec 3<>/dev/tcp/127.0.0.1/4000; printf "GET /login HTTP/1.0\r\n\r\n" >&3; cat <&3' > /tmp/login.html
grep -q "<form" /tmp/login.html && echo "page: the login page is served"
wait $run
status=$?
kill $sim
exit $status
SCRIPT
unshare --net bash -c "ip link set lo up && chroot '$root' /usr/bin/env -i PATH=/usr/bin:/bin sh /tmp/run_site.sh" \
    > "$log" 2>&1 || true
sed 's/^/  run: /' "$log" | tail -8
cycles=$(sed -n 's/^stopped after \([0-9]*\) cycles.*/\1/p' "$log")
[ -n "$cycles" ] && [ "$cycles" -ge 15 ] || fail "fusebox run did not cycle for 20 s (see $log)"
grep -q "^error:" "$log" && fail "fusebox run reported a device error (see $log)"
grep -Eq "^cycle [0-9]+: .*limits .*[1-9]" "$log" || fail "no charger was given current (see $log)"
[ -s "$root/var/lib/fusebox/fusebox.db" ] || fail "no history written"
grep -q "^page: the login page is served" "$log" || fail "the page was not served (see $log)"
echo "package-test: passed: $cycles cycles as user fusebox in a Debian root without Swift"
