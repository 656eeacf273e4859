/* The sandbox's seccomp filter (libseccomp): a deny list on top of no capabilities
 * and no new privileges. It closes what namespaces and dropped capabilities leave
 * open: the mount APIs old and new, namespace games, kernel keyrings, BPF, perf,
 * userfaultfd, io_uring (its operations bypass seccomp), handle-based opens, and
 * terminal input injection. Only the native x86-64 ABI is allowed. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>

#include "sandbox.h"

int cairn_seccomp_load(struct cairn_err *err)
{
	static const int denied[] = {
	    SCMP_SYS(mount),
	    SCMP_SYS(umount2),
	    SCMP_SYS(pivot_root),
	    SCMP_SYS(fsopen),
	    SCMP_SYS(fsconfig),
	    SCMP_SYS(fsmount),
	    SCMP_SYS(fspick),
	    SCMP_SYS(open_tree),
	    SCMP_SYS(move_mount),
	    SCMP_SYS(mount_setattr),
	    SCMP_SYS(setns),
	    SCMP_SYS(keyctl),
	    SCMP_SYS(add_key),
	    SCMP_SYS(request_key),
	    SCMP_SYS(bpf),
	    SCMP_SYS(perf_event_open),
	    SCMP_SYS(userfaultfd),
	    SCMP_SYS(io_uring_setup),
	    SCMP_SYS(io_uring_enter),
	    SCMP_SYS(io_uring_register),
	    SCMP_SYS(open_by_handle_at),
	    SCMP_SYS(name_to_handle_at),
	    SCMP_SYS(kexec_load),
	    SCMP_SYS(kexec_file_load),
	    SCMP_SYS(init_module),
	    SCMP_SYS(finit_module),
	    SCMP_SYS(delete_module),
	    SCMP_SYS(reboot),
	    SCMP_SYS(swapon),
	    SCMP_SYS(swapoff),
	    SCMP_SYS(acct),
	    SCMP_SYS(quotactl),
	    SCMP_SYS(syslog),
	    SCMP_SYS(iopl),
	    SCMP_SYS(ioperm),
	    SCMP_SYS(lookup_dcookie),
	    SCMP_SYS(vhangup),
	    SCMP_SYS(chroot),
	    SCMP_SYS(process_vm_writev),
	};
	int rv = -1;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		cairn_seterr(err, "sandbox: seccomp_init failed");
		return -1;
	}
	/* Other ABIs (x32, i386) are killed outright: only native syscalls pass. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), denied[i], 0) < 0)
			goto fail;
	/* New namespaces of any kind, user namespaces above all. clone3 passes its
	 * flags in memory seccomp cannot read: refuse it, so libc falls back to clone. */
	const unsigned long ns = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
	                         CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;
	/* unshare and clone with any namespace flag are refused, one rule per flag. */
	for (unsigned bit = 0; bit < 64; bit++) {
		unsigned long f = 1UL << bit;
		if (!(ns & f))
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
		                     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		                     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) < 0)
			goto fail;
	}
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0)
		goto fail;
	/* Terminal input injection (CVE-2017-5226) and console control; the request
	 * is an int, so compare its low 32 bits only. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
	                     SCMP_A1_32(SCMP_CMP_EQ, TIOCSTI)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
	                     SCMP_A1_32(SCMP_CMP_EQ, TIOCLINUX)) < 0)
		goto fail;
	if (seccomp_load(ctx) < 0)
		goto fail;
	rv = 0;
fail:
	if (rv < 0)
		cairn_seterr(err, "sandbox: cannot load the seccomp filter");
	seccomp_release(ctx);
	return rv;
}
