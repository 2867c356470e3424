#!/bin/sh
# boot.sh WORK NAME CGROUP: run by package systemdtest inside `unshare
# --mount --pid --uts --ipc --propagation private --kill-child=SIGKILL
# --fork`, under `timeout -s KILL`. It builds a throw-away root (a tmpfs,
# and an overlay with the host's / below and that tmpfs above), so that
# nothing systemd does reaches the host's files; copies WORK/files on top;
# removes every enabled unit and masks those that must not start; mounts a
# fresh /proc (/proc/sys read-only), a read-only /sys, a cgroup2 hierarchy
# of its own (a new cgroup namespace rooted in CGROUP/NAME, a fresh child of
# the host's cgroup2 hierarchy CGROUP), a small /dev, and tmpfs /run and
# /tmp; pivots into it and execs systemd as PID 1, with systemd-nspawn's
# default capability bounding set. The network namespace is the host's:
# the host's sshd unit listens on one loopback address.
set -eu
work=$1 name=$2 cgroot=$3
case ${4-} in
stage2) ;;
*)
  r=$work/root
  mkdir -p "$r"
  mount -t tmpfs -o mode=755 tmpfs "$r"
  mkdir -p "$r/upper" "$r/work" "$r/merged"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$r/upper,workdir=$r/work" "$r/merged"
  m=$r/merged
  rm -f "$m"/etc/systemd/system/*.wants/* 2>/dev/null || true
  for u in getty@.service serial-getty@.service console-getty.service container-getty@.service \
    ssh.service sshd.service ssh.socket postgresql.service systemd-timesyncd.service \
    systemd-networkd.service systemd-networkd.socket systemd-resolved.service \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer man-db.timer e2scrub_all.timer fstrim.timer \
    systemd-tmpfiles-clean.timer tmp.mount cron.service rsyslog.service docker.service docker.socket containerd.service; do
    ln -sf /dev/null "$m/etc/systemd/system/$u"
  done
  cp -a "$work/files/." "$m/"
  [ ! -x "$work/customize" ] || "$work/customize" "$m"
  cg=$cgroot/${OMNI_SD_CGROUP:-$name}
  mkdir "$cg"
  echo $$ >"$cg/cgroup.procs"
  exec unshare --cgroup sh "$0" "$work" "$name" "$cgroot" stage2
  ;;
esac
m=$work/root/merged
mount -t proc proc "$m/proc"
mount --bind "$m/proc/sys" "$m/proc/sys"
mount -o remount,bind,ro "$m/proc/sys"
mount -t sysfs -o ro sysfs "$m/sys"
mount -t cgroup2 cgroup2 "$m/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid tmpfs "$m/dev"
for d in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
  set -- $d
  mknod -m 666 "$m/dev/$1" c "$2" "$3"
done
mkdir "$m/dev/pts" "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$m/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
hostname "$name"
cd "$m"
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
caps=-all,+chown,+dac_override,+dac_read_search,+fowner,+fsetid,+ipc_owner,+kill,+lease,+linux_immutable,+mknod,+net_bind_service,+net_broadcast,+net_raw,+setfcap,+setgid,+setpcap,+setuid,+sys_admin,+sys_boot,+sys_chroot,+sys_nice,+sys_ptrace,+sys_resource,+sys_tty_config,+audit_write,+audit_control
exec env -i container=omni-test PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  setpriv --bounding-set "$caps" /lib/systemd/systemd --system
