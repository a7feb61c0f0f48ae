#!/usr/bin/env bash
# Runs commands with Swift on a Linux machine that has none: Debian trixie's `swiftlang`
# installed in a trixie root (debootstrap) cached under .cache/ (git-ignored), the repository
# bind-mounted at /repo inside it. Must run as root.
#
#   scripts/swift-env.sh ensure           build the root if missing or unfinished (idempotent)
#   scripts/swift-env.sh run -- CMD ARG.. ensure, then run CMD in the root (cwd mapped to /repo/..)
#   scripts/swift-env.sh status           where the root is, whether it is ready, its size
#   scripts/swift-env.sh clean            delete the root; refuses while anything is mounted in it
#
#   e.g. scripts/swift-env.sh run -- swift build --package-path /repo/ios (scripts/swift-test.sh)
#
# Environment: MAPEO_SWIFT_ROOT (default <repo>/.cache/swift-root; point several worktrees at
# one root to share its ~3 GB), MAPEO_DEBIAN_MIRROR (default http://deb.debian.org/debian).
#
# The danger this script is built around: the root has the machine's /dev bind-mounted into it
# while a command runs, so deleting the root with that mount in place would delete the machine's
# /dev. Therefore:
#   - every mount (/dev, /proc, /dev/shm, /repo) is made inside a private mount namespace
#     (unshare), so the machine's own mount table never shows them, and they vanish with the
#     namespace even if this script is killed with SIGKILL;
#   - inside that namespace they are also unmounted by a trap on EXIT (normal end, failure,
#     Ctrl-C, TERM);
#   - `clean` deletes only after checking that no mount of any process's namespace lies in the
#     root, that no process has its root or working directory in it, that no `run` holds the
#     lock, and that the root carries this script's marker; then it deletes with
#     --one-file-system.
set -euo pipefail

die() { echo "swift-env: $*" >&2; exit 1; }

self=$(cd "$(dirname "$0")" && pwd -P)/$(basename "$0")
repo=$(cd "$(dirname "$self")/.." && pwd -P)
root=${MAPEO_SWIFT_ROOT:-$repo/.cache/swift-root}
mirror=${MAPEO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=trixie
# The base system; a root made from another base is rebuilt only after `clean`.
base_recipe="debootstrap --variant=minbase $suite"
# What is installed on it. swiftlang has no Recommends of its own, but gcc's (libc6-dev) are
# what the Swift compiler's C importer needs (`import Glibc`, C module maps): without them it
# warns "libc not found" and C headers fail. Changing this list reruns only the install step.
packages="swiftlang libc6-dev"
# Where Debian's swiftlang keeps the Swift runtime libraries; its compiler and the programs it
# builds need them on the loader path.
swift_lib_dir=/usr/libexec/swift/lib/swift/linux
inner_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

marker_file=.mapeo-swift-root   # written first: "this directory is ours to delete"
base_stamp=.mapeo-stage-base    # debootstrap finished; holds $base_recipe
ready_stamp=.mapeo-ready        # packages installed; holds $packages

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, chroot and mounts need it)"

# The root path is checked before anything is created or deleted: absolute, plain characters
# only (so it reads back unescaped from /proc/*/mountinfo), at least two levels deep, no '..'.
[[ $root == /* ]] || die "MAPEO_SWIFT_ROOT must be absolute: $root"
[[ $root =~ ^[A-Za-z0-9._/-]+$ ]] || die "root path has unusual characters: $root"
[[ $root != *..* && $root != *//* && $root != */ ]] || die "root path not normal: $root"
[[ $root == /*/* ]] || die "root path too shallow: $root"
case "$root" in
    /bin* | /boot* | /dev* | /etc* | /lib* | /proc* | /run* | /sbin* | /sys* | /usr* | /var/lib*)
        die "root path inside a system folder: $root" ;;
esac
lock_file=$root.lock

# --- checks ------------------------------------------------------------------------------------

# Mount points (from every mount namespace we can see) at or under the root, one per line.
# Field 5 of mountinfo is the mount point as seen from that process's root; processes chrooted
# into the root show paths relative to it, which is why processes_in_root exists too.
mounts_in_root() {
    local f
    {
        awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts
        for f in /proc/[0-9]*/mountinfo; do
            awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' "$f" 2>/dev/null || true
        done
    } | sort -u
}

# Processes whose root directory or working directory is in the root (a leftover chrooted
# process keeps its mount namespace, and so the /dev bind, alive).
processes_in_root() {
    local d link
    for d in /proc/[0-9]*; do
        for link in "$d/root" "$d/cwd"; do
            link=$(readlink "$link" 2>/dev/null) || continue
            if [[ $link == "$root" || $link == "$root"/* ]]; then
                echo "${d#/proc/} ($link)"
                break
            fi
        done
    done
}

assert_nothing_mounted() {
    local m p sub
    m=$(mounts_in_root)
    [[ -z $m ]] || die "still mounted under $root, refusing to delete:"$'\n'"$m"
    p=$(processes_in_root)
    [[ -z $p ]] || die "processes still run inside $root, refusing to delete:"$'\n'"$p"
    for sub in "" /dev /dev/shm /dev/pts /proc /sys /repo; do
        if [[ -e $root$sub ]] && mountpoint -q "$root$sub"; then
            die "$root$sub is a mount point, refusing to delete"
        fi
    done
}

# Deletes the root after every check above. The only place this script deletes a root.
delete_root() {
    [[ -e $root ]] || return 0
    [[ -f $root/$marker_file ]] || die "$root lacks $marker_file (not made by this script); delete it yourself"
    assert_nothing_mounted
    # --one-file-system: even if a mount appeared after the check, rm does not descend into it.
    rm -rf --one-file-system -- "$root"
    [[ ! -e $root ]] || die "could not delete all of $root"
}

# --- running inside the root -------------------------------------------------------------------

# Runs "$@" inside the root, in a private mount namespace that holds the mounts. $1 is the
# working directory inside the root.
in_root() {
    unshare --mount --propagation private -- "$self" __inside "$@"
}

# What `inside` has mounted, innermost last. Global: the EXIT trap runs after `inside` returns.
mounted=()
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -- "${mounted[i]}" 2>/dev/null || umount --lazy -- "${mounted[i]}" ||
            echo "swift-env: could not unmount ${mounted[i]}" >&2
    done
    mounted=()
}

# Entered through `unshare` only: mounts, runs, unmounts. Nothing mounted here is visible
# outside this namespace.
inside() {
    local workdir=$1
    shift
    trap unmount_all EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    mkdir -p "$root/dev" "$root/proc" "$root/repo"
    mount --bind /dev "$root/dev"
    mounted+=("$root/dev")
    # A fresh /dev/shm for the root: the plain /dev bind would otherwise expose the host's
    # devtmpfs folder under its real /dev/shm.
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"
    mounted+=("$root/dev/shm")
    # A private pty instance (apt wants one for its log; nothing here touches the host's ptys).
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
    mounted+=("$root/dev/pts")
    mount -t proc proc "$root/proc"
    mounted+=("$root/proc")
    mount --bind "$repo" "$root/repo"
    mounted+=("$root/repo")

    # Name resolution for apt inside the root.
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

    local status=0
    chroot "$root" /usr/bin/env -i -C "$workdir" \
        HOME=/root PATH="$inner_path" LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        DEBIAN_FRONTEND=noninteractive LD_LIBRARY_PATH="$swift_lib_dir" \
        ${CI:+CI="$CI"} "$@" || status=$?
    unmount_all
    return "$status"
}

# --- building the root -------------------------------------------------------------------------

is_ready() {
    [[ -f $root/$base_stamp && $(cat "$root/$base_stamp") == "$base_recipe" &&
        -f $root/$ready_stamp && $(cat "$root/$ready_stamp") == "$packages" ]]
}

# Caller holds the exclusive lock.
build_root() {
    is_ready && return 0
    if [[ -f $root/$base_stamp && $(cat "$root/$base_stamp") != "$base_recipe" ]]; then
        die "$root has another base ($(cat "$root/$base_stamp")); run '$self clean' first"
    fi
    command -v debootstrap >/dev/null || {
        echo "swift-env: installing debootstrap on this machine" >&2
        apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
    }
    local t0=$SECONDS
    if [[ ! -f $root/$base_stamp ]]; then
        # An unfinished debootstrap is not resumable: start that stage again.
        delete_root
        mkdir -p "$root"
        echo "made by scripts/swift-env.sh" >"$root/$marker_file"
        echo "swift-env: debootstrap $suite into $root" >&2
        # In a private namespace too: debootstrap mounts /proc and /sys in the target itself,
        # and would leave them mounted if interrupted.
        unshare --mount --propagation private -- \
            debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
            die "debootstrap failed, see $root.debootstrap.log"
        echo "$base_recipe" >"$root/$base_stamp"
        echo "swift-env: base system in $((SECONDS - t0)) s" >&2
    fi
    echo "swift-env: installing $packages in the root" >&2
    local t1=$SECONDS
    rm -f -- "$root/$ready_stamp"
    # shellcheck disable=SC2086 # $packages is a list of words
    in_root / sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null && apt-get clean" ||
        die "installing $packages failed"
    echo "$packages" >"$root/$ready_stamp"
    echo "swift-env: installed in $((SECONDS - t1)) s; root ready in $((SECONDS - t0)) s" >&2
}

# Leaves the shared lock held on fd 9 for the caller: a running command keeps `clean` out.
ensure() {
    mkdir -p "$(dirname "$root")"
    exec 9>"$lock_file"
    if ! is_ready; then
        flock -x 9
        # Another `ensure` (e.g. .ci/run's, started early in the background) may have built
        # it while we waited for the lock.
        is_ready || build_root
    fi
    # Converting to shared is not atomic (flock(2)); check again after.
    flock -s 9
    is_ready || die "$root disappeared while waiting for the lock"
}

# --- commands ----------------------------------------------------------------------------------

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case "$cmd" in
    ensure)
        ensure
        ;;
    run)
        [[ ${1:-} == -- ]] && shift
        [[ $# -gt 0 ]] || die "usage: $0 run -- CMD [ARG...]"
        ensure
        # The caller's folder, if it lies in the repository, is the command's folder inside.
        here=$(pwd -P)
        workdir=/
        if [[ $here == "$repo" ]]; then
            workdir=/repo
        elif [[ $here == "$repo"/* ]]; then
            workdir=/repo/${here#"$repo"/}
        fi
        in_root "$workdir" "$@"
        ;;
    status)
        echo "root:  $root"
        if is_ready; then
            echo "state: ready ($base_recipe + $packages)"
            echo "size:  $(du -sh --one-file-system "$root" | cut -f1)"
        elif [[ -e $root ]]; then
            echo "state: unfinished"
        else
            echo "state: absent"
        fi
        m=$(mounts_in_root)
        echo "mounts under root: ${m:-none}"
        ;;
    clean)
        [[ -e $root ]] || { echo "swift-env: nothing to delete at $root"; exit 0; }
        exec 9>"$lock_file"
        flock -n -x 9 || die "a run is using $root (lock $lock_file held), refusing to delete"
        delete_root
        rm -f -- "$root.debootstrap.log"
        echo "swift-env: deleted $root"
        ;;
    __inside)
        inside "$@"
        ;;
    *)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
