/* main.c - dpt's guest as a multiboot kernel: dirty memory with a known pattern under any
 * hypervisor that boots multiboot (QEMU's -kernel), reporting on the serial port.
 *
 * The command line (QEMU's -append) is a list of key=value words (docs/multiboot-guest.md):
 *
 *	wss=SIZE          working set: bytes with K/M/G (powers of 1024), or pages with p (64M)
 *	pattern=P         seq, random, hotcold or stride (seq)
 *	rate=R            0 or max: write as fast as possible, one pass after another (default);
 *	                  else R MiB/s (R, RM; RK, RG), or R pages/s with p (4224p), paced
 *	                  by the TSC
 *	hot-share=PCT     hotcold: percent of the writes that go to the hot pages (90)
 *	hot-fraction=PCT  hotcold: percent of the working set that is hot (10)
 *	stride=N          stride: in pages (16)
 *	seed=N            random, hotcold: seed, as dpt vm's --seed (1)
 *	progress=S        a progress line every S seconds (or S ms with ms: 250ms), 0 for none (5)
 *	phase=S:R         paced runs: from S seconds after the ready line on, rate R instead
 *	                  (same units as rate=); the schedule goes on without a jump
 *
 * Words without '=' (QEMU puts the kernel's file name first) are ignored.
 *
 * Memory: the working set starts at 4 MiB. Besides it the guest writes only its hot page (4 KiB:
 * counters, the walk's state, the stack). rate 0 writes the hot page on every pass, so a window
 * that sees every working-set page dirty sees exactly pages + 1 dirty pages (the ready line's
 * footprint). A paced run (rate > 0) makes exactly one store per page write and none other, but
 * for its progress lines (progress=0: none). Page tables and GDT are never written (entry.S).
 *
 * Stamps: rate 0 stores the pass number, a paced run the count of page writes before the batch
 * (batches of up to 64), so a page's content changes whenever it is written again in a later
 * batch: what QEMU's page-sampling (content hashes) needs to see every rewrite.
 *
 * Time: the TSC, calibrated at boot against the CMOS RTC's second ticks (1 to 2 s).
 */
#include <stdint.h>

#include "guest-abi.h"
#include "io.h"
#include "pattern.h"

#define MB_INFO_MAGIC	0x2BADB002u
#define MB_INFO_MEM	(1u << 0)
#define MB_INFO_CMDLINE (1u << 2)

#define WORK_BASE 0x400000ULL /* 4 MiB: above the image and what the loader put after it */
#define COM1	  0x3f8
#define RTC_INDEX 0x70
#define RTC_DATA  0x71
#define CANARY	  0x6b6f2d6b63617473ULL /* "stack-ok" */
#define BATCH_MAX 64			/* paced mode: pages written between two clock reads */
#define RATE_MAX  (1ULL << 30)		/* pages/s; keeps rate x TSC Hz within 64 bits */

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB below 1 MiB */
	uint32_t mem_upper; /* KiB above 1 MiB, contiguous */
	uint32_t boot_device;
	uint32_t cmdline; /* physical address of a NUL-terminated string */
};

/* Everything the guest writes after boot: one page. entry.S puts the stack at its end. */
struct hot {
	uint64_t passes; /* rate 0: passes done; paced: writes / pages */
	uint64_t writes; /* page writes done since the ready line (repeats included) */
	struct guest_walk walk;
	uint64_t canary; /* the stack must never grow down to here */
};

union hot_page {
	struct hot h;
	uint8_t bytes[4096];
};

union hot_page mb_hot __attribute__((aligned(4096), section(".bss.hot")));

/* Written at boot only, read afterwards. */
static struct config {
	uint64_t pages, rate, seed, stride, progress_ms;
	uint64_t phase_secs, phase_rate; /* phase=S:R; phase_rate 0: no phase change */
	uint32_t pattern, hot_share, hot_fraction;
	uint64_t tsc_hz;
} cfg = {
    .pages = (64ULL << 20) / GUEST_PAGE_SIZE,
    .seed = 1,
    .stride = 16,
    .progress_ms = 5000,
    .pattern = GUEST_PATTERN_SEQ,
    .hot_share = 90,
    .hot_fraction = 10,
};

static const char *const pattern_names[] = {"seq", "random", "hotcold", "stride"};

/* --- serial console ------------------------------------------------------------------------ */

static void serial_init(void)
{
	guest_outb(COM1 + 1, 0x00); /* no interrupts */
	guest_outb(COM1 + 3, 0x80); /* DLAB */
	guest_outb(COM1 + 0, 0x01); /* 115200 baud */
	guest_outb(COM1 + 1, 0x00);
	guest_outb(COM1 + 3, 0x03); /* 8N1 */
	guest_outb(COM1 + 2, 0x07); /* FIFO on, cleared */
}

static void putc_serial(char c)
{
	/* THR empty; bounded, so that a missing UART (reads as 0xff anyway) cannot hang us */
	for (int i = 0; i < 100000 && !(guest_inb(COM1 + 5) & 0x20); i++)
		;
	guest_outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	while (*s) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s++);
	}
}

static void put_u64(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_serial(buf + i);
}

static void put_hex(uint64_t v)
{
	char buf[19];
	int i = sizeof(buf) - 1;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	puts_serial(buf + i);
}

/* " key=" then the value */
static void put_kv(const char *key, uint64_t v)
{
	putc_serial(' ');
	puts_serial(key);
	putc_serial('=');
	put_u64(v);
}

/* Microseconds as seconds with 3 decimals. */
static void put_secs(uint64_t us)
{
	uint64_t ms = us / 1000;
	put_u64(ms / 1000);
	putc_serial('.');
	putc_serial((char)('0' + ms / 100 % 10));
	putc_serial((char)('0' + ms / 10 % 10));
	putc_serial((char)('0' + ms % 10));
}

static void __attribute__((noreturn)) fatal(const char *what, const char *arg)
{
	puts_serial("dpt-guest error: ");
	puts_serial(what);
	if (arg) {
		puts_serial(": '");
		for (; *arg && *arg != ' '; arg++)
			putc_serial(*arg);
		putc_serial('\'');
	}
	puts_serial("\n");
	guest_halt_forever();
}

/* --- time ----------------------------------------------------------------------------------- */

static uint8_t rtc_read(uint8_t reg)
{
	guest_outb(RTC_INDEX, reg);
	return guest_inb(RTC_DATA);
}

/* The RTC's seconds register, read outside an update. */
static uint8_t rtc_seconds(void)
{
	while (rtc_read(0x0a) & 0x80) /* update in progress */
		;
	return rtc_read(0x00);
}

/* Spin until the RTC's seconds change; the TSC then. */
static uint64_t rtc_edge(void)
{
	uint64_t t0 = guest_rdtsc();
	uint8_t s = rtc_seconds();

	while (rtc_seconds() == s)
		if (guest_rdtsc() - t0 > (1ULL << 36))
			fatal("the CMOS RTC does not tick (no clock to pace or time the writes)",
			      0);
	return guest_rdtsc();
}

static uint64_t tsc_to_us(uint64_t dt)
{
	return dt / cfg.tsc_hz * 1000000 + dt % cfg.tsc_hz * 1000000 / cfg.tsc_hz;
}

/* floor(rate x dt / hz), without overflow. */
static inline __attribute__((always_inline)) uint64_t pages_at(uint64_t dt, uint64_t rate)
{
	return dt / cfg.tsc_hz * rate + dt % cfg.tsc_hz * rate / cfg.tsc_hz;
}

/* Page writes due dt TSC ticks after the start: rate's schedule, then from phase_secs on
 * phase_rate's, continuing from where the first one got to. */
static inline __attribute__((always_inline)) uint64_t pages_due(uint64_t dt)
{
	uint64_t change = cfg.phase_secs * cfg.tsc_hz;

	if (!cfg.phase_rate || dt < change)
		return pages_at(dt, cfg.rate);
	return cfg.phase_secs * cfg.rate + pages_at(dt - change, cfg.phase_rate);
}

/* --- command line --------------------------------------------------------------------------- */

static int word_is(const char *w, const char *key, const char **val)
{
	while (*key && *w == *key)
		w++, key++;
	if (*key || *w != '=')
		return 0;
	*val = w + 1;
	return 1;
}

/* A decimal number; *end: the first character after it. -1 if there is none or it overflows. */
static int parse_num(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	*end = s;
	return 0;
}

static int at_end(const char *s)
{
	return !*s || *s == ' ';
}

/* n times the unit, unless it overflows */
static int scale(uint64_t n, uint64_t unit, uint64_t *out)
{
	if (n > UINT64_MAX / unit)
		return -1;
	*out = n * unit;
	return 0;
}

/* SIZE: bytes with K, M, G (powers of 1024) or none; pages with p. In pages. */
static int parse_wss(const char *s, uint64_t *pages)
{
	const char *e;
	uint64_t n, bytes;

	if (parse_num(s, &n, &e))
		return -1;
	if ((*e == 'p' || *e == 'P') && at_end(e + 1)) {
		*pages = n;
		return 0;
	}
	uint64_t unit = *e == 'K' || *e == 'k'	 ? 1ULL << 10
			: *e == 'M' || *e == 'm' ? 1ULL << 20
			: *e == 'G' || *e == 'g' ? 1ULL << 30
						 : 1;
	if (unit > 1)
		e++;
	if (!at_end(e) || scale(n, unit, &bytes))
		return -1;
	*pages = bytes / GUEST_PAGE_SIZE;
	return 0;
}

/* RATE: 0 or max; N (MiB/s), NM, NK, NG (KiB/s, GiB/s), Np (pages/s). In pages/s. */
static int parse_rate(const char *s, uint64_t *rate)
{
	const char *e;
	uint64_t n;

	if (s[0] == 'm' && s[1] == 'a' && s[2] == 'x' && at_end(s + 3)) {
		*rate = 0;
		return 0;
	}
	if (parse_num(s, &n, &e))
		return -1;
	if ((*e == 'p' || *e == 'P') && at_end(e + 1)) {
		*rate = n;
		return 0;
	}
	if ((*e == 'K' || *e == 'k') && at_end(e + 1) && !(n % 4)) {
		*rate = n / 4;
		return 0;
	}
	if (*e == 'G' || *e == 'g')
		return at_end(e + 1) ? scale(n, 262144, rate) : -1;
	if (*e == 'M' || *e == 'm')
		e++;
	return at_end(e) ? scale(n, 256, rate) : -1;
}

static int parse_pct(const char *s, uint32_t *pct)
{
	const char *e;
	uint64_t n;

	if (parse_num(s, &n, &e) || !at_end(e) || n > 100)
		return -1;
	*pct = (uint32_t)n;
	return 0;
}

static int parse_plain(const char *s, uint64_t *v)
{
	const char *e;

	return parse_num(s, v, &e) || !at_end(e) ? -1 : 0;
}

/* PERIOD: whole seconds, or milliseconds with ms. In ms. */
static int parse_period(const char *s, uint64_t *ms)
{
	const char *e;
	uint64_t n;

	if (parse_num(s, &n, &e) || n > 3600000)
		return -1;
	if (e[0] == 'm' && e[1] == 's' && at_end(e + 2)) {
		*ms = n;
		return 0;
	}
	*ms = n * 1000;
	return at_end(e) ? 0 : -1;
}

/* PHASE: SECONDS:RATE, SECONDS whole and at most a day, RATE as rate= but not 0 */
static int parse_phase(const char *s)
{
	const char *e;

	if (parse_num(s, &cfg.phase_secs, &e) || *e != ':' || !cfg.phase_secs ||
	    cfg.phase_secs > 86400)
		return -1;
	if (parse_rate(e + 1, &cfg.phase_rate) || !cfg.phase_rate || cfg.phase_rate > RATE_MAX)
		return -1;
	return 0;
}

static void parse_word(const char *w)
{
	const char *v;
	int bad = 0;

	if (word_is(w, "wss", &v))
		bad = parse_wss(v, &cfg.pages) || !cfg.pages;
	else if (word_is(w, "rate", &v))
		bad = parse_rate(v, &cfg.rate) || cfg.rate > RATE_MAX;
	else if (word_is(w, "hot-share", &v))
		bad = parse_pct(v, &cfg.hot_share);
	else if (word_is(w, "hot-fraction", &v))
		bad = parse_pct(v, &cfg.hot_fraction);
	else if (word_is(w, "stride", &v))
		bad = parse_plain(v, &cfg.stride) || !cfg.stride;
	else if (word_is(w, "seed", &v))
		bad = parse_plain(v, &cfg.seed);
	else if (word_is(w, "progress", &v))
		bad = parse_period(v, &cfg.progress_ms) || cfg.progress_ms > 3600000;
	else if (word_is(w, "phase", &v))
		bad = parse_phase(v);
	else if (word_is(w, "pattern", &v)) {
		bad = 1;
		for (uint32_t i = 0; i < 4; i++) {
			const char *n = pattern_names[i], *p = v;
			while (*n && *p == *n)
				n++, p++;
			if (!*n && at_end(p)) {
				cfg.pattern = i;
				bad = 0;
			}
		}
	} else {
		fatal("unknown option (wss, pattern, rate, hot-share, hot-fraction, stride, seed, "
		      "progress, phase)",
		      w);
	}
	if (bad)
		fatal("bad value", w);
}

static void parse_cmdline(const char *s)
{
	while (*s) {
		while (*s == ' ')
			s++;
		const char *w = s;
		int has_eq = 0;
		while (*s && *s != ' ')
			has_eq |= *s++ == '=';
		if (has_eq)
			parse_word(w);
	}
}

/* --- the workload --------------------------------------------------------------------------- */

static void check_stack(void)
{
	if (mb_hot.h.canary != CANARY)
		fatal("the stack overflowed into the hot page's counters", 0);
}

static void progress_line(uint64_t t0, uint64_t now, uint64_t pass_us)
{
	struct hot *h = &mb_hot.h;

	check_stack();
	puts_serial("dpt-guest progress t=");
	put_secs(tsc_to_us(now - t0));
	put_kv("passes", h->passes);
	put_kv("writes", h->writes);
	if (cfg.rate)
		put_kv("due", pages_due(now - t0));
	else
		put_kv("pass_us", pass_us);
	puts_serial("\n");
}

static void ready_line(uint64_t base, uint64_t mem_end, uint64_t pass_us)
{
	puts_serial("dpt-guest ready");
	put_kv("wss", cfg.pages * GUEST_PAGE_SIZE);
	put_kv("pages", cfg.pages);
	/* distinct pages a pass writes, the hot page included (seq and stride cover the set) */
	if (!cfg.rate && (cfg.pattern == GUEST_PATTERN_SEQ || cfg.pattern == GUEST_PATTERN_STRIDE))
		put_kv("footprint", cfg.pages + 1);
	puts_serial(" pattern=");
	puts_serial(pattern_names[cfg.pattern]);
	put_kv("rate", cfg.rate);
	putc_serial('p');
	if (cfg.phase_rate) {
		put_kv("phase", cfg.phase_secs);
		putc_serial(':');
		put_u64(cfg.phase_rate);
		putc_serial('p');
	}
	puts_serial(" base=");
	put_hex(base);
	puts_serial(" hot=");
	put_hex((uint64_t)&mb_hot);
	put_kv("mem_mib", mem_end >> 20);
	put_kv("tsc_hz", cfg.tsc_hz);
	put_kv("pass_us", pass_us);
	puts_serial("\n");
}

/* rate 0: pass after pass as fast as possible. */
static void __attribute__((noreturn, noinline)) run_loop(void)
{
	struct hot *h = &mb_hot.h;
	uint64_t period = cfg.progress_ms * (cfg.tsc_hz / 1000), t0 = guest_rdtsc(), last = t0;
	uint64_t next = t0 + period, last_passes = 0;

	for (;;) {
		guest_walk_write(&h->walk, cfg.pages, h->passes + 3);
		h->passes++;
		h->writes += cfg.pages;
		if (!period)
			continue;
		uint64_t now = guest_rdtsc();
		if (now >= next) {
			progress_line(t0, now, tsc_to_us(now - last) / (h->passes - last_passes));
			last = now;
			last_passes = h->passes;
			next += period;
			if (next <= now)
				next = now + period;
		}
	}
}

/* rate > 0: floor(rate x t) writes by time t, batches of BATCH_MAX at most (a guest that falls
 * behind catches up at full speed; the schedule never drifts). The loop keeps its state in
 * registers: its only stores are the page writes themselves (a progress line adds stack and
 * counter stores to the hot page), which matters where every store is counted (a dirty ring
 * under instruction emulation, docs/multiboot-guest.md). */
static void __attribute__((noreturn, noinline)) run_paced(void)
{
	struct hot *h = &mb_hot.h;
	struct guest_walk w = h->walk;
	uint64_t period = cfg.progress_ms * (cfg.tsc_hz / 1000), t0 = guest_rdtsc();
	uint64_t next = t0 + period;
	uint64_t writes = 0;

	for (;;) {
		uint64_t now = guest_rdtsc(), due = pages_due(now - t0);
		if (due > writes) {
			uint64_t n = due - writes < BATCH_MAX ? due - writes : BATCH_MAX;
			guest_walk_write(&w, n, writes + 3);
			writes += n;
		} else {
			__asm__ volatile("pause");
		}
		if (period && now >= next) {
			h->writes = writes;
			h->passes = writes / cfg.pages;
			progress_line(t0, now, 0);
			next += period;
		}
	}
}

void __attribute__((noreturn)) mb_main(uint32_t magic, const struct mb_info *info)
{
	struct hot *h = &mb_hot.h;

	h->canary = CANARY;
	serial_init();
	puts_serial("\ndpt-guest booting\n");
	if (magic != MB_INFO_MAGIC)
		fatal("not started by a multiboot loader (bad magic in EAX)", 0);
	if (!(info->flags & MB_INFO_MEM))
		fatal("the multiboot loader gave no memory size", 0);
	if (info->flags & MB_INFO_CMDLINE)
		parse_cmdline((const char *)(uintptr_t)info->cmdline);
	if (cfg.phase_rate && !cfg.rate)
		fatal("phase= needs a paced rate= (not 0 or max)", 0);

	uint64_t mem_end = 0x100000ULL + (uint64_t)info->mem_upper * 1024;
	if (mem_end <= WORK_BASE || cfg.pages > (mem_end - WORK_BASE) / GUEST_PAGE_SIZE) {
		puts_serial("dpt-guest error: the working set does not fit in RAM:");
		put_kv("pages", cfg.pages);
		put_kv("max_pages", mem_end > WORK_BASE ? (mem_end - WORK_BASE) / 4096 : 0);
		puts_serial("\n");
		guest_halt_forever();
	}
	uint64_t hot_pages = cfg.pages * cfg.hot_fraction / 100;
	uint64_t z = cfg.seed + 0x9E3779B97F4A7C15ULL; /* splitmix64, as dpt vm's vCPU 0 */
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	if (guest_walk_init(&h->walk, cfg.pattern, WORK_BASE, cfg.pages, 0, (z ^ (z >> 31)) | 1,
			    hot_pages ? hot_pages : 1, cfg.hot_share, cfg.stride))
		fatal("impossible pattern parameters", 0);

	uint64_t e1 = rtc_edge(), e2 = rtc_edge();
	cfg.tsc_hz = e2 - e1;
	if (cfg.tsc_hz < 1000000)
		fatal("the TSC does not advance (no clock to pace or time the writes)", 0);

	/* Touch the whole working set once (the first writes are the slow ones), then time a
	 * pass of the pattern. */
	struct guest_walk first = h->walk;
	first.kind = GUEST_PATTERN_SEQ;
	first.idx = 0;
	guest_walk_write(&first, cfg.pages, 1);
	uint64_t t = guest_rdtsc(), pass_us;
	guest_walk_write(&h->walk, cfg.pages, 2);
	pass_us = tsc_to_us(guest_rdtsc() - t);
	check_stack();
	ready_line(WORK_BASE, mem_end, pass_us);
	if (cfg.rate)
		run_paced();
	run_loop();
}
