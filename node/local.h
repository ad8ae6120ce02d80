/* Local mode of sanfsd (DESIGN §1 "single host, no cluster (like OCFS2
 * local mounts)"; issue 2 point 6).
 *
 *   sanfsd --local DEVICE MOUNTPOINT [-o OPTS] [--foreground] [--verbose] [--log FILE]
 *
 * Opens the device (sfs_open claims slot 0 through its heartbeat block and
 * refuses a device with a live mount elsewhere), mounts it over FUSE, and only
 * then detaches into the background: the waiting parent learns success or the
 * one-line failure through a pipe and exits 0 or 1. The daemon serves until
 * the filesystem is unmounted (sanctl umount, fusermount3 -u, umount) or it
 * gets SIGTERM/SIGINT/SIGHUP; it then unmounts, checkpoints the journal, marks
 * the device clean (sfs_close) and exits 0.
 *
 * While mounted, the daemon's pid is in SANFS_RUN_DIR/fuse-MAJ:MIN.pid, where
 * MAJ:MIN is st_dev of the mount point (the FUSE connection); the daemon
 * removes the file after a clean sfs_close, so `sanctl umount` can wait for
 * the daemon and tell a clean exit from a failed one. For its whole life the
 * daemon also holds an flock on SANFS_RUN_DIR/dev-ID.lock (ID names the
 * device); a new daemon of the same device waits for it while the device is
 * mounted nowhere (the last daemon is finishing its unmount; up to 60 s).
 *
 * Options (-o, comma separated): local, ro, rw, allow_other (default),
 * noallow_other, acl (default), noacl, debug (FUSE request trace), threads=N,
 * readahead=KB (sequential read-ahead window, default 4096; 0 keeps the
 * kernel's 128), nosuid, nodev, noexec; and the generic ones mount(8) passes (suid, dev,
 * exec, atime, noatime, relatime, defaults, auto, noauto, _netdev, nofail,
 * user, users, nouser, sync, async). Anything else is refused.
 *
 * Logs go to --log FILE, by default (in the background)
 * /var/log/sanfs/local-DEVICENAME.log; with --foreground to stderr.
 *
 * Error lines start with $SANFSD_ERROR_PREFIX (default "sanfsd") so that
 * `sanctl mount` can run the daemon and keep its own prefix. */
#ifndef SANFS_NODE_LOCAL_H
#define SANFS_NODE_LOCAL_H

#define SANFS_RUN_DIR "/run/sanfs"
#define SANFS_LOG_DIR "/var/log/sanfs" /* default log: local-DEVICENAME.log */

/* The whole local-mode daemon; returns the process exit status (0 ok, 1
 * failure, 2 bad usage). */
int sanfsd_local_main(int argc, char **argv);

#endif
