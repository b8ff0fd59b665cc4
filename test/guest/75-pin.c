// SPDX-License-Identifier: GPL-2.0
/*
 * Long-term pins: pages pinned with FOLL_LONGTERM (io_uring registered
 * buffers, as an O_DIRECT or RDMA buffer would be) are never merged while
 * pinned. Of 16 identical pages, 8 are pinned: after several full scans
 * the 8 others share one KSM page while each pinned page keeps the PFN it
 * had when pinned; the pinned pages stay coherent with io_uring both ways
 * (a READ_FIXED into the buffer shows up in our mapping, our write shows up
 * in a WRITE_FIXED from it). Once the buffers are unregistered, all 16 merge
 * within a few scans. Every byte is checked throughout. Skips (with the
 * reason) if the kernel has no usable io_uring.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <linux/io_uring.h>

#include "ksmtest.h"

#define NPAGES	16
#define PLAN	11
#define FILL	0x84
#define MARK	"PINNED!!"

static int fd;
static long psize;

/* Pinned: pages 0-3 (buffer 0) and 8-11 (buffer 1). */
static bool pinned(int i)
{
	return (i >= 0 && i < 4) || (i >= 8 && i < 12);
}

struct ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

/* A 4-entry io_uring, by raw syscalls; 0 or -errno. */
static int ring_init(struct ring *r)
{
	struct io_uring_params p;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		return -errno;
	sq = mmap(NULL, p.sq_off.array + p.sq_entries * sizeof(unsigned int), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	cq = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return -errno;
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* One READ_FIXED/WRITE_FIXED, waited for; the result (bytes or -errno). */
static int ring_rw(struct ring *r, int op, int file, void *buf, unsigned int len, off_t off, int index)
{
	unsigned int tail = *r->sq_tail, i = tail & *r->sq_mask, head;
	struct io_uring_sqe *sqe = &r->sqes[i];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = op;
	sqe->fd = file;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->off = off;
	sqe->buf_index = index;
	r->sq_array[i] = i;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return -EAGAIN;
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

static void print_pfns(char *m, const uint64_t *at_pin)
{
	for (int i = 0; i < NPAGES; i++)
		ktap_print_msg("page %d%s pfn %#llx (when pinned %#llx)", i, pinned(i) ? " pinned" : "",
			       (unsigned long long)ksmt_pfn_of(m + i * psize), (unsigned long long)at_pin[i]);
}

/*
 * The unpinned pages share one PFN, not that of any pinned page; each pinned
 * page still has the PFN it had when pinned, shared with no other page.
 */
static bool pin_layout_ok(char *m, const uint64_t *at_pin)
{
	uint64_t k = ksmt_pfn_of(m + 4 * psize);

	if (!k)
		return false;
	for (int i = 0; i < NPAGES; i++) {
		uint64_t f = ksmt_pfn_of(m + i * psize);

		if (!pinned(i)) {
			if (f != k)
				return false;
			continue;
		}
		if (f != at_pin[i] || f == k)
			return false;
		for (int j = 0; j < NPAGES; j++)
			if (j != i && ksmt_pfn_of(m + j * psize) == f)
				return false;
	}
	return true;
}

static bool one_pfn(char *m, int except)
{
	uint64_t k = ksmt_pfn_of(m + (except == 0 ? psize : 0));

	for (int i = 0; i < NPAGES; i++) {
		uint64_t f = ksmt_pfn_of(m + i * psize);

		if (i == except ? f == k : f != k)
			return false;
	}
	return k != 0;
}

#define COUNTS(s) (unsigned long long)(s).pages_shared, (unsigned long long)(s).pages_sharing, \
	(unsigned long long)(s).pages_unshared, (unsigned long long)(s).pages_volatile, \
	(unsigned long long)(s).rmap_items

int main(void)
{
	uint64_t at_pin[NPAGES], pinned0;
	char sysctl[16] = "absent", *m, *want, *got;
	struct ksmmod_stats s;
	struct iovec iov[2];
	struct ring ring;
	int err, file, res, scans;
	bool ok;

	ktap_print_header(PLAN);
	ksmt_read_file("/proc/sys/kernel/io_uring_disabled", sysctl, sizeof(sysctl));
	err = ring_init(&ring);
	if (err) {
		char why[128];

		snprintf(why, sizeof(why), "no usable io_uring: %s (kernel.io_uring_disabled %.4s)",
			 strerror(-err), sysctl);
		for (int i = 0; i < PLAN; i++)
			ktap_test_skip("pages pinned by io_uring registered buffers", why);
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	want = malloc(4 * psize);
	got = malloc(4 * psize);
	file = open("/tmp/75-pin.data", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!want || !got || file < 0)
		ktap_exit_fail_msg("setup: %s", strerror(errno));

	/*
	 * Pin before the scanner can see the pages: with it running, they
	 * could merge before the pin is taken.
	 */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m, FILL, NPAGES * psize);
	iov[0].iov_base = m;
	iov[0].iov_len = 4 * psize;
	iov[1].iov_base = m + 8 * psize;
	iov[1].iov_len = 4 * psize;
	if (syscall(__NR_io_uring_register, ring.fd, IORING_REGISTER_BUFFERS, iov, 2))
		ktap_exit_fail_msg("IORING_REGISTER_BUFFERS: %s", strerror(errno));
	for (int i = 0; i < NPAGES; i++)
		at_pin[i] = ksmt_pfn_of(m + i * psize);
	pinned0 = ksmt_stats(fd).merge_pinned;
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 4);
	/* Pinned pages are in no tree: "volatile" as the kernel counts it. */
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == 7 && s.pages_unshared == 0 &&
			 s.pages_volatile == 8 && s.rmap_items == NPAGES,
			 "8 of 16 identical pages pinned: after 4 scans shared %llu sharing %llu unshared %llu volatile %llu items %llu (want 1 7 0 8 16)",
			 COUNTS(s));
	{
		struct ksmmod_process_stats ps = { .size = sizeof(ps) };

		uint64_t pinned;

		/*
		 * Why they did not merge: counted, system-wide and for this
		 * process (read with the scanner stopped: the same refusals).
		 */
		ksmt_set_run(fd, KSMMOD_RUN_STOP);
		pinned = ksmt_stats(fd).merge_pinned - pinned0;
		ok = !ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ktap_test_result(ok && pinned >= 8 && ps.merge_pinned == pinned && !ps.thp_unsplittable,
				 "merge_pinned counts the refusals: %llu system-wide, %llu for this process (at least 8)",
				 (unsigned long long)pinned, (unsigned long long)ps.merge_pinned);
	}
	ok = pin_layout_ok(m, at_pin);
	if (!ktap_test_result(ok, "pagemap: the 8 unpinned pages share one PFN, each pinned page keeps its own PFN from pinning time"))
		print_pfns(m, at_pin);
	ktap_test_result(ksmt_bytes_ok(m, NPAGES * psize, FILL), "every byte of the 16 pages intact");

	/* io_uring writes into the pinned pages: our mapping must see it. */
	memset(want, FILL, 4 * psize);
	memcpy(want + psize, MARK, strlen(MARK));
	if (pwrite(file, want, 4 * psize, 0) != 4 * psize)
		ktap_exit_fail_msg("pwrite: %s", strerror(errno));
	res = ring_rw(&ring, IORING_OP_READ_FIXED, file, m, 4 * psize, 0, 0);
	ok = res == 4 * psize && !memcmp(m, want, 4 * psize) && ksmt_bytes_ok(m + 4 * psize, 12 * psize, FILL) &&
	     ksmt_pfn_of(m + psize) == at_pin[1];
	ktap_test_result(ok, "io_uring READ_FIXED into the pinned buffer (%d): our mapping sees its bytes", res);

	/* We write the pinned page back: io_uring must read our bytes from it. */
	memset(m + psize, FILL, strlen(MARK));
	res = ring_rw(&ring, IORING_OP_WRITE_FIXED, file, m, 4 * psize, 4 * psize, 0);
	memset(want, FILL, 4 * psize);
	ok = res == 4 * psize && pread(file, got, 4 * psize, 4 * psize) == 4 * psize &&
	     !memcmp(got, want, 4 * psize);
	ktap_test_result(ok, "our write to a pinned page reaches io_uring: WRITE_FIXED of the buffer (%d) outputs it", res);

	s = ksmt_settle(fd, 3);
	ok = pin_layout_ok(m, at_pin);
	if (!ktap_test_result(ok && s.pages_shared == 1 && s.pages_sharing == 7 && s.pages_unshared == 0 &&
			      s.pages_volatile == 8,
			      "still pinned 3 scans later: not merged (shared %llu sharing %llu unshared %llu volatile %llu items %llu)",
			      COUNTS(s)))
		print_pfns(m, at_pin);

	/* Unpin: everything merges within a few scans. */
	err = syscall(__NR_io_uring_register, ring.fd, IORING_UNREGISTER_BUFFERS, NULL, 0) ? -errno : 0;
	for (scans = 0; scans < 10; scans++) {
		s = ksmt_settle(fd, 1);
		if (s.pages_shared == 1 && s.pages_sharing == NPAGES - 1)
			break;
	}
	ok = one_pfn(m, -1);
	if (!ktap_test_result(!err && ok && s.pages_shared == 1 && s.pages_sharing == NPAGES - 1 &&
			      s.pages_unshared == 0 && s.rmap_items == NPAGES,
			      "buffers unregistered (%s): all 16 merged after %d scan(s): shared %llu sharing %llu unshared %llu volatile %llu items %llu",
			      err ? strerror(-err) : "ok", scans + 1, COUNTS(s)))
		print_pfns(m, at_pin);
	ktap_test_result(ksmt_bytes_ok(m, NPAGES * psize, FILL), "every byte intact after merging the formerly pinned pages");

	m[9 * psize] = 0x01;
	ok = m[9 * psize] == 0x01 && ksmt_bytes_ok(m + 9 * psize + 1, 7 * psize - 1, FILL) &&
	     ksmt_bytes_ok(m, 9 * psize, FILL) && one_pfn(m, 9) && ksmt_pfn_of(m + 9 * psize) != at_pin[9];
	ktap_test_result(ok, "write to a merged, formerly pinned page: private copy, the others intact and merged");

	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize);
	s = ksmt_stats(fd);
	ok = !err && m[9 * psize] == 0x01 && ksmt_bytes_ok(m, 9 * psize, FILL);
	for (int i = 0; i < NPAGES; i++)
		for (int j = i + 1; j < NPAGES; j++)
			if (ksmt_pfn_of(m + i * psize) == ksmt_pfn_of(m + j * psize))
				ok = false;
	ktap_test_result(ok && s.pages_shared == 0 && s.pages_sharing == 0 && s.pages_unshared == 0 &&
			 s.rmap_items == 0,
			 "UNMERGE_RANGE: private pages with their bytes, counters zero (shared %llu sharing %llu unshared %llu volatile %llu items %llu)",
			 COUNTS(s));
	{
		struct ksmmod_process p;

		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &p);
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(ring.fd);
	close(file);
	unlink("/tmp/75-pin.data");
	close(fd);
	return ktap_finished();
}
