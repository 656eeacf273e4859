/* Syscall-level probe for tests/integration/test_sandbox.sh.
 *
 * Runs inside a Cairn sandbox as the unprivileged job user and prints one
 * `key=value` line per probe on stdout; the test script decides what is a leak.
 * A value is "ok" when the call succeeded, else the errno name (EPERM, ENOSYS,
 * ...), "killed:SIGSYS" for a child killed by a signal, or a few probe-specific
 * words. Composite values join several calls with '/'.
 *
 * Most probes are chosen so that the seccomp filter and plain lack of privilege
 * give different answers (e.g. mount(2) on a missing target: ENOENT without the
 * filter, EPERM with it), so the control run outside the sandbox tells them apart.
 *
 *   probe sys HOST_PID TCP_PORT OUT_IP UNIX_SOCKET    all syscall probes
 *   probe pidmode HOST_PID                             only kill/ptrace of a host pid
 *   probe fds                                          the open fds, excluding the listing's
 *   probe creat PATH                                   create PATH (errno name or ok)
 *   probe read PATH                                    read PATH (errno name or ok)
 *   probe forks N      fork up to N children that wait, print forks=HOW_MANY:ERRNO|ok
 *                      (a bounded fork loop, not a fork bomb), then kill them
 *   probe hog MB       allocate and touch MB megabytes; prints hog=survived if it can
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 1
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#define X32_SYSCALL_BIT 0x40000000

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

/* "ok" or the errno name; closes a returned fd when asked. */
static const char *res(long r, int e, int is_fd)
{
	if (r >= 0) {
		if (is_fd && r > 2)
			close((int)r);
		return "ok";
	}
	return ename(e);
}
#define R(call) ({ errno = 0; long r_ = (long)(call); int e_ = errno; res(r_, e_, 0); })
#define RFD(call) ({ errno = 0; long r_ = (long)(call); int e_ = errno; res(r_, e_, 1); })

/* Run fn in a child; print prefix and the child's answer, or how it died. */
static void in_child(const char *prefix, void (*fn)(int out))
{
	int p[2];
	char buf[128] = "";
	if (pipe(p) < 0) {
		printf("%spipe:%s\n", prefix, ename(errno));
		return;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		fn(p[1]);
		_exit(0);
	}
	close(p[1]);
	ssize_t n, got = 0;
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	if (got > 0)
		printf("%s%s\n", prefix, buf);
	else if (WIFSIGNALED(st))
		printf("%skilled:SIG%s\n", prefix, sigabbrev_np(WTERMSIG(st)) ?: "?");
	else
		printf("%sexit:%d\n", prefix, WEXITSTATUS(st));
}

static void say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

/* ---- children ---- */

static void c_unshare_user(int out)
{
	say(out, R(unshare(CLONE_NEWUSER)));
}

static void c_unshare_net(int out)
{
	char b[64];
	const char *a = R(unshare(CLONE_NEWNET));
	snprintf(b, sizeof(b), "%s/%s", a, R(unshare(CLONE_NEWUSER | CLONE_NEWNET)));
	say(out, b);
}

static void c_clone_user(int out)
{
	errno = 0;
	long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	int e = errno;
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	say(out, res(r, e, 0));
}

static void c_clone3(int out)
{
	struct clone_args a;
	memset(&a, 0, sizeof(a));
	a.flags = CLONE_NEWUSER;
	a.exit_signal = SIGCHLD;
	errno = 0;
	long r = syscall(SYS_clone3, &a, sizeof(a));
	if (r == 0)
		_exit(0);
	int e = errno;
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	say(out, res(r, e, 0));
}

static void c_x32(int out)
{
	errno = 0;
	long r = syscall(X32_SYSCALL_BIT | SYS_getpid);
	char b[64];
	snprintf(b, sizeof(b), "returned:%s", r < 0 ? ename(errno) : "ok");
	say(out, b);
}

static void c_i386(int out)
{
	long r;
	/* getpid is 20 in the i386 table */
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "cc");
	char b[64];
	snprintf(b, sizeof(b), "returned:%ld", r);
	say(out, b);
}

static long host_pid;
static void c_ptrace_host(int out)
{
	/* A successful seize ends with this child: the tracee is detached. */
	say(out, R(ptrace(PTRACE_SEIZE, (pid_t)host_pid, 0, 0)));
}

static void c_ptrace_init(int out)
{
	say(out, R(ptrace(PTRACE_SEIZE, 1, 0, 0)));
}

/* TIOCSTI into a terminal that is our controlling terminal (the case the kernel
 * otherwise allows), and TIOCLINUX on it. Falls back to fd 0 without a pty. */
static void c_tty(int out)
{
	char b[96], c = '#';
	int sub = 12; /* TIOCL_GETSHIFTSTATE... any subcode */
	setsid();
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	int s = -1;
	const char *via = "pty";
	if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0) {
		const char *name = ptsname(m);
		s = name ? open(name, O_RDWR) : -1;
		if (s < 0) {
			s = ioctl(m, TIOCGPTPEER, O_RDWR);
			if (s >= 0)
				ioctl(s, TIOCSCTTY, 0);
		}
	}
	if (s < 0) {
		via = "fd0";
		s = 0;
	}
	const char *sti = R(ioctl(s, TIOCSTI, &c));
	const char *lin = R(ioctl(s, TIOCLINUX, &sub));
	snprintf(b, sizeof(b), "%s/%s/%s", sti, lin, via);
	say(out, b);
}

/* ---- probes in the main process ---- */

static const char *tcp_connect(const char *ip, int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return ename(errno);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, ip, &a.sin_addr);
	const char *rv = "ok";
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno != EINPROGRESS) {
			rv = ename(errno);
		} else {
			struct pollfd p = {.fd = s, .events = POLLOUT};
			if (poll(&p, 1, 3000) <= 0) {
				rv = "timeout";
			} else {
				int e = 0;
				socklen_t l = sizeof(e);
				getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
				rv = e ? ename(e) : "ok";
			}
		}
	}
	close(s);
	return rv;
}

static const char *unix_connect(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return ename(errno);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	const char *rv = R(connect(s, (struct sockaddr *)&a, sizeof(a)));
	close(s);
	return rv;
}

static const char *lo_state(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return ename(errno);
	close(s);
	return (ifr.ifr_flags & IFF_UP) ? "up" : "down";
}

static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d) {
		printf("fds=opendir:%s\n", ename(errno));
		return;
	}
	int self = dirfd(d);
	char list[1024] = "", extra[2048] = "";
	struct dirent *e;
	int fds[256], n = 0;
	while ((e = readdir(d)) && n < 256) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd != self)
			fds[n++] = fd;
	}
	/* sorted, so that the answer is stable */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && fds[k] < fds[k - 1]; k--) {
			int t = fds[k];
			fds[k] = fds[k - 1];
			fds[k - 1] = t;
		}
	for (int i = 0; i < n; i++) {
		char path[64], tgt[256] = "";
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d", i ? "," : "",
		         fds[i]);
		if (fds[i] > 2) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
			ssize_t l = readlink(path, tgt, sizeof(tgt) - 1);
			tgt[l > 0 ? l : 0] = '\0';
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), " %d->%s",
			         fds[i], tgt);
		}
	}
	closedir(d);
	printf("fds=%s\n", list);
	if (extra[0])
		printf("fds_extra=%s\n", extra + 1);
}

static void sys_probes(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: probe sys HOST_PID TCP_PORT OUT_IP UNIX_SOCKET\n");
		exit(2);
	}
	host_pid = atol(argv[2]);
	int port = atoi(argv[3]);
	const char *out_ip = argv[4], *sock = argv[5];
	char b[256];

	/* The old mount API. A missing target: ENOENT unfiltered, EPERM filtered. */
	printf("mount_nx=%s\n", R(mount("tmpfs", "/nonexistent-cairn-probe", "tmpfs", 0, NULL)));
	(void)!mkdir("probe-mnt", 0700);
	printf("mount_tmpfs=%s\n", R(mount("tmpfs", "probe-mnt", "tmpfs", 0, NULL)));
	rmdir("probe-mnt");
	printf("remount=%s\n", R(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL)));
	snprintf(b, sizeof(b), "%s", R(umount2("/home", MNT_DETACH)));
	printf("umount2=%s/%s\n", b, R(umount2("/nonexistent-cairn-probe", 0)));

	/* The new mount API. */
	printf("fsopen=%s\n", RFD(syscall(SYS_fsopen, "tmpfs", 0)));
	{
		char f1[32], f2[32];
		snprintf(f1, sizeof(f1), "%s", R(syscall(SYS_fsmount, -1, FSMOUNT_CLOEXEC, 0)));
		snprintf(f2, sizeof(f2), "%s", R(syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0)));
		printf("fsmisc=%s/%s/%s\n", f1, f2, RFD(syscall(SYS_fspick, AT_FDCWD, "/", 0)));
	}
	/* A plain open_tree (no clone) is an O_PATH open for anyone: ok unfiltered. */
	snprintf(b, sizeof(b), "%s", RFD(syscall(SYS_open_tree, AT_FDCWD, "/", O_CLOEXEC)));
	printf("open_tree=%s/%s\n", b,
	       RFD(syscall(SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | O_CLOEXEC)));
	printf("move_mount=%s\n",
	       R(syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/var/tmp", 0)));
	{
		/* size 0: EINVAL unfiltered */
		uint64_t attr[4] = {1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0};
		printf("mount_setattr=%s\n",
		       R(syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, attr, 0)));
	}
	printf("pivot_root=%s\n", R(syscall(SYS_pivot_root, ".", ".")));
	printf("chroot=%s\n", R(chroot(".")));

	/* Namespaces. setns(-1): EBADF unfiltered. */
	{
		int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		snprintf(b, sizeof(b), "%s", R(setns(-1, 0)));
		printf("setns=%s/%s\n", b, fd >= 0 ? R(setns(fd, CLONE_NEWNET)) : ename(errno));
		if (fd >= 0)
			close(fd);
	}
	in_child("unshare_user=", c_unshare_user);
	in_child("unshare_net=", c_unshare_net);
	in_child("clone_newuser=", c_clone_user);
	in_child("clone3=", c_clone3);

	/* Keys, BPF, perf, userfaultfd, io_uring, handles. */
	{
		char k1[32], k2[32];
		snprintf(k1, sizeof(k1), "%s",
		         R(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1)));
		snprintf(k2, sizeof(k2), "%s",
		         R(syscall(SYS_add_key, "user", "cairn-probe", "x", 1,
		                   KEY_SPEC_PROCESS_KEYRING)));
		printf("keys=%s/%s/%s\n", k1, k2,
		       R(syscall(SYS_request_key, "user", "cairn-probe-none", NULL, 0)));
	}
	{
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		printf("bpf=%s\n", RFD(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a))));
	}
	{
		struct perf_event_attr pa;
		memset(&pa, 0, sizeof(pa));
		pa.type = PERF_TYPE_SOFTWARE;
		pa.size = sizeof(pa);
		pa.config = PERF_COUNT_SW_TASK_CLOCK;
		pa.exclude_kernel = 1;
		pa.exclude_hv = 1;
		printf("perf_event_open=%s\n",
		       RFD(syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0)));
	}
	printf("userfaultfd=%s\n",
	       RFD(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY)));
	{
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		char u1[32], u2[32];
		snprintf(u1, sizeof(u1), "%s", RFD(syscall(SYS_io_uring_setup, 1, &p)));
		snprintf(u2, sizeof(u2), "%s", R(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0)));
		printf("io_uring=%s/%s/%s\n", u1, u2,
		       R(syscall(SYS_io_uring_register, -1, 0, NULL, 0)));
	}
	{
		struct file_handle *h = calloc(1, sizeof(*h) + 128);
		int mnt_id;
		h->handle_bytes = 128;
		const char *n2h = R(name_to_handle_at(AT_FDCWD, ".", h, &mnt_id, 0));
		if (strcmp(n2h, "ok")) { /* a bogus handle */
			h->handle_bytes = 8;
			h->handle_type = 1;
		}
		snprintf(b, sizeof(b), "%s", n2h);
		printf("handles=%s/%s\n", b, RFD(open_by_handle_at(AT_FDCWD, h, O_RDONLY)));
		free(h);
	}
	in_child("tty=", c_tty);

	/* Other ABIs: the whole process must be killed (SIGSYS). */
	in_child("x32=", c_x32);
	in_child("i386=", c_i386);

	/* The host's processes: hidden by the PID namespace. */
	snprintf(b, sizeof(b), "host_pid=%s/", R(kill((pid_t)host_pid, 0)));
	in_child(b, c_ptrace_host);
	{
		int fd = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
		const char *ns = fd >= 0 ? "ok" : ename(errno);
		if (fd >= 0)
			close(fd);
		DIR *d = opendir("/proc/1/fd");
		const char *fdl = d ? "ok" : ename(errno);
		if (d)
			closedir(d);
		snprintf(b, sizeof(b), "init_access=%s/%s/", fdl, ns);
		in_child(b, c_ptrace_init);
	}

	/* The network: only a loopback of our own. */
	printf("lo=%s\n", lo_state());
	printf("tcp_host=%s\n", tcp_connect("127.0.0.1", port));
	printf("tcp_out=%s\n", tcp_connect(out_ip, 9));
	printf("unix_host=%s\n", unix_connect(sock));
}

static volatile sig_atomic_t sigints;
static void count_sigint(int sig)
{
	(void)sig;
	sigints++;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: probe sys|pidmode|fds|creat|read ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "fds")) {
		list_fds();
	} else if (!strcmp(argv[1], "sys")) {
		sys_probes(argc, argv);
	} else if (!strcmp(argv[1], "pidmode") && argc >= 3) {
		char b[64];
		host_pid = atol(argv[2]);
		snprintf(b, sizeof(b), "host_pid=%s/", R(kill((pid_t)host_pid, 0)));
		in_child(b, c_ptrace_host);
	} else if (!strcmp(argv[1], "creat") && argc >= 3) {
		int fd = open(argv[2], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		printf("%s\n", fd >= 0 ? "ok" : ename(errno));
		if (fd >= 0) {
			close(fd);
			unlink(argv[2]);
		}
	} else if (!strcmp(argv[1], "read") && argc >= 3) {
		int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		char c;
		printf("%s\n", fd < 0 ? ename(errno) : read(fd, &c, 1) < 0 ? ename(errno) : "ok");
		if (fd >= 0)
			close(fd);
	} else if (!strcmp(argv[1], "forks") && argc >= 3) {
		int n = atoi(argv[2]), made = 0, e = 0;
		pid_t *kids = calloc((size_t)n + 1, sizeof(*kids));
		for (; made < n; made++) {
			pid_t p = fork();
			if (p == 0) {
				pause();
				_exit(0);
			}
			if (p < 0) {
				e = errno;
				break;
			}
			kids[made] = p;
		}
		for (int i = 0; i < made; i++)
			kill(kids[i], SIGKILL);
		for (int i = 0; i < made; i++)
			waitpid(kids[i], NULL, 0);
		printf("forks=%d:%s\n", made, e ? ename(e) : "ok");
		free(kids);
	} else if (!strcmp(argv[1], "sigint")) {
		/* How many times one Ctrl-C arrives: the terminal sends it to the
		 * process group, and the shims must not pass it on again. */
		struct sigaction sa = {.sa_handler = count_sigint};
		sigaction(SIGINT, &sa, NULL);
		printf("ready\n");
		for (int i = 0; i < 200; i++)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		printf("sigints=%d\n", (int)sigints);
	} else if (!strcmp(argv[1], "hog") && argc >= 3) {
		size_t mb = (size_t)atol(argv[2]);
		for (size_t i = 0; i < mb; i++) {
			char *m = malloc(1 << 20);
			if (!m) {
				printf("hog=ENOMEM\n");
				return 0;
			}
			for (size_t k = 0; k < (1 << 20); k += 4096)
				m[k] = 1;
		}
		printf("hog=survived\n");
	} else {
		fprintf(stderr, "probe: unknown mode %s\n", argv[1]);
		return 2;
	}
	return 0;
}
