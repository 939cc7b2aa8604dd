#!/usr/bin/env bash
# make package: the Debian package of the controller, in .build-package/.
#   fusebox, built with the Swift runtime and Foundation linked in
#   (--static-swift-stdlib), so that a device needs no Swift toolchain;
#   the shipped policies, drivers and page; the example configuration; the
#   systemd unit; a system user (postinst). The Debian packages of the
#   libraries it links (liblua5.4-0, libmodbus5, libsqlite3-0, libcurl4, ...)
#   are its dependencies, read off the binary. docs/operations.md says how to
#   install it; Tests/Support/package_test.sh installs it into a fresh Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
scratch=.build-package
flags=(-c release --product fusebox --static-swift-stdlib --scratch-path "$scratch")

"$swift" build "${flags[@]}"
bin="$("$swift" build "${flags[@]}" --show-bin-path)/fusebox"

arch=$(dpkg --print-architecture)
# A version that grows with every commit: 0.<commit time>+g<commit>.
version="0.$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S)+g$(git rev-parse --short HEAD)"

stage="$scratch/stage"
rm -rf "$stage"
install -D -m 755 "$bin" "$stage/usr/bin/fusebox"
strip --strip-debug "$stage/usr/bin/fusebox"
install -d "$stage/usr/share/fusebox/examples" "$stage/usr/share/doc/fusebox" "$stage/DEBIAN"
cp -r policies drivers "$stage/usr/share/fusebox/"
cp -r Sources/FuseboxServer/Page "$stage/usr/share/fusebox/page"
install -m 644 config/site.yaml config/sim.yaml "$stage/usr/share/fusebox/examples/"
install -D -m 644 deploy/fusebox.service "$stage/lib/systemd/system/fusebox.service"
install -m 644 README.md docs/*.md "$stage/usr/share/doc/fusebox/"

# Every library the binary names (ELF NEEDED) must come from a Debian
# package: that package is a dependency (their own dependencies come with
# them). One that does not (a Swift toolchain library) is an error: the
# device would not have it.
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
depends=()
resolved=""
while read -r lib path; do
    grep -qx "$lib" <<< "$needed" || continue
    resolved+="$lib"$'\n'
    owner=""
    for p in "$path" "$(readlink -f "$path")" "${path/#\/lib\//\/usr\/lib\/}" "${path/#\/usr\/lib\//\/lib\/}"; do
        owner=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1) && [ -n "$owner" ] && break
    done
    if [ -z "$owner" ]; then
        echo "make package: fusebox links $lib ($path), which no Debian package holds" >&2
        exit 1
    fi
    depends+=("$owner")
done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $1 ~ /^\// { n = split($1, p, "/"); print p[n], $1 }')
for lib in $needed; do
    grep -qx "$lib" <<< "$resolved" || { echo "make package: fusebox needs $lib, which this machine does not have" >&2; exit 1; }
done
depends_line=$(printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g')

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends_line/" \
    -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" deploy/debian/control.in > "$stage/DEBIAN/control"
install -m 755 deploy/debian/postinst deploy/debian/prerm "$stage/DEBIAN/"

deb="$scratch/fusebox_${version}_${arch}.deb"
rm -f "$scratch"/fusebox_*.deb
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
echo "depends: $depends_line"
