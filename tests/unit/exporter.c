/* exporter.c - dpt exporter's library parts without a VM: the incremental working set of
 * src/exporter/history.c against a brute-force union of the last k sets (random sets, sparse
 * and dense -- so both storage forms --, windows of 1, 3, 10 and 60 intervals, a layout change
 * starting afresh, more intervals than the seq space's wrap), the ring's sets read back, the
 * label escaping, and the metrics text's families (HELP and TYPE once each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/bitmap.h"
#include "exporter/exporter.h"
#include "../test.h"

static uint64_t brute(uint64_t **sets, uint64_t n, unsigned k, uint64_t total, uint64_t since)
{
	uint64_t *u = calloc(bitmap_words(total) + 1, 8), c;

	for (uint64_t i = n > k ? n - k : 0; i < n; i++)
		if (i >= since)
			for (size_t w = 0; w < bitmap_words(total); w++)
				u[w] |= sets[i][w];
	c = bitmap_weight(u, total);
	free(u);
	return c;
}

struct cmp {
	const uint64_t *bm;
	uint64_t seen, bad;
};

static void visit(void *arg, uint64_t p)
{
	struct cmp *c = arg;

	c->seen++;
	c->bad += !bitmap_test(c->bm, p);
}

static void run_case(const char *name, unsigned short_k, unsigned long_k, uint64_t total,
		     uint64_t n, unsigned den, uint64_t change_at)
{
	struct exp_hist h;
	uint64_t **sets = calloc(n, sizeof(*sets)), since = 0, bad = 0, badset = 0;
	struct dpt_region r = {.pages = total, .name = "ram"};
	char what[160] = "";

	exp_hist_init(&h, short_k, long_k, long_k);
	for (uint64_t i = 0; i < n; i++) {
		sets[i] = calloc(bitmap_words(total) + 1, 8);
		unsigned d = i % 7 == 3 ? 2 : den; /* now and then a dense one: stored as a bitmap */
		for (uint64_t p = 0; p < total; p++)
			if (test_rnd() % d == 0)
				bitmap_set(sets[i], p);
		struct dpt_sample s = {.total = total, .bitmap = sets[i], .nr_regions = 1,
				       .regions = &r, .regions_changed = i == change_at};
		if (i == change_at)
			since = i;
		exp_hist_add(&h, &s);
		uint64_t bs = brute(sets, i + 1, short_k, total, since);
		uint64_t bl = brute(sets, i + 1, long_k, total, since);
		if ((bs != h.distinct_short || bl != h.distinct_long) && !bad++)
			snprintf(what, sizeof(what), "interval %llu: short %llu (brute %llu), long %llu (brute %llu)",
				 (unsigned long long)i, (unsigned long long)h.distinct_short,
				 (unsigned long long)bs, (unsigned long long)h.distinct_long,
				 (unsigned long long)bl);
		struct cmp c = {.bm = sets[i]};
		exp_set_foreach(exp_hist_get(&h, 0), total, visit, &c);
		badset += c.bad || c.seen != bitmap_weight(sets[i], total) ||
			  exp_hist_get(&h, 0)->count != c.seen;
	}
	TEST_CHECK(!bad, name, "%s", what);
	char n2[128];
	snprintf(n2, sizeof(n2), "%s-sets", name);
	TEST_CHECK(!badset, n2, "%llu sets read back wrong", (unsigned long long)badset);
	exp_hist_fini(&h);
	for (uint64_t i = 0; i < n; i++)
		free(sets[i]);
	free(sets);
}

int main(void)
{
	run_case("hist-10-60-sparse", 10, 60, 3000, 150, 200, ~0ULL);
	run_case("hist-1-3", 1, 3, 500, 40, 5, ~0ULL);
	run_case("hist-layout-change", 10, 60, 1000, 120, 50, 70);
	run_case("hist-wraps-seq-space", 2, 5, 64, 70000, 20, ~0ULL);

	char out[64];
	exp_label_escape(out, sizeof(out), "a\"b\\c\nd");
	TEST_CHECK(!strcmp(out, "a\\\"b\\\\c\\nd"), "label-escape", "got %s", out);
	exp_label_escape(out, 8, "aaaaaaaaaaaaaaaaaaa");
	TEST_CHECK(strlen(out) < 8, "label-escape-bounded", "got %s", out);

	/* the text: each family's HELP and TYPE once, before its samples */
	struct exp_target t = {.pid = 42, .state = EXP_TRACKED, .total_pages = 100};
	struct exp_target f = {.pid = 43, .state = EXP_FAILED};
	struct exp_target n = {.pid = 0, .state = EXP_FAILED}; /* a domain named, not running */
	struct exp_target *v[] = {&t, &f, &n};
	struct exp_stats st = {.interval_s = 1, .bandwidth = 1e9, .downtime_limit = 0.3};
	struct exp_buf b = {0};
	snprintf(t.vm, sizeof(t.vm), "v\"1");
	snprintf(f.vm, sizeof(f.vm), "43");
	snprintf(f.error, sizeof(f.error), "no process with pid 43");
	exp_hist_init(&t.hist, 10, 60, 60);
	exp_hist_init(&f.hist, 10, 60, 60);
	snprintf(n.vm, sizeof(n.vm), "web1");
	snprintf(n.error, sizeof(n.error), "libvirt domain 'web1' is not running (shut off)");
	exp_hist_init(&n.hist, 10, 60, 60);
	exp_metrics_build(&b, v, 3, &st);
	TEST_CHECK(b.p && strstr(b.p, "dpt_tracked_bytes{vm=\"v\\\"1\",pid=\"42\"} 409600\n"),
		   "text-tracked", "%.300s", b.p ? b.p : "");
	TEST_CHECK(b.p && strstr(b.p, "dpt_target_up{vm=\"43\",pid=\"43\"} 0\n") &&
			   strstr(b.p, "dpt_target_error_info{vm=\"43\",pid=\"43\",error=\"no process"),
		   "text-failed-target", "no up 0 / error line");
	TEST_CHECK(b.p && !strstr(b.p, "dpt_tracked_bytes{vm=\"43\""), "text-failed-no-series",
		   "a failed target has series");
	TEST_CHECK(b.p && strstr(b.p, "dpt_target_up{vm=\"web1\",pid=\"\"} 0\n") &&
			   strstr(b.p, "dpt_target_error_info{vm=\"web1\",pid=\"\",error=\"libvirt "
					"domain 'web1' is not running (shut off)\"} 1\n"),
		   "text-no-process-target", "no up 0 / error line with pid \"\"");
	int dup = 0;
	for (char *l = b.p; l && *l; l = strchr(l, '\n') + 1) {
		if (!strncmp(l, "# TYPE ", 7)) {
			char name[128];
			sscanf(l + 7, "%127s", name);
			char key[160];
			snprintf(key, sizeof(key), "# TYPE %s ", name);
			dup += strstr(l + 1, key) != NULL;
		}
		if (!strchr(l, '\n'))
			break;
	}
	TEST_CHECK(!dup, "text-families-once", "%d families declared twice", dup);
	exp_buf_fini(&b);
	exp_hist_fini(&t.hist);
	exp_hist_fini(&f.hist);
	exp_hist_fini(&n.hist);

	/* wants: by pid, and by name for those without a process (each once) */
	struct exp_wants w = {0};
	exp_wants_add(&w, 7, "a", NULL);
	exp_wants_add(&w, 7, "b", NULL);
	exp_wants_add_error(&w, "c", "why c");
	exp_wants_add_error(&w, "c", "why not");
	exp_wants_add_error(&w, "d", "why d");
	TEST_CHECK(w.nr == 3 && !strcmp(w.v[0].name, "a") && !w.v[1].pid &&
			   !strcmp(w.v[1].error, "why c") && !strcmp(w.v[2].error, "why d"),
		   "wants-by-pid-and-name", "%u wants", w.nr);
	exp_wants_fini(&w);

	struct exp_text x;
	struct exp_buf nb = {0};
	size_t len = 0;
	exp_text_init(&x);
	exp_buf_printf(&nb, "a 1\n");
	exp_text_publish(&x, &nb);
	free(exp_text_scrape(&x, &len));
	char *s2 = exp_text_scrape(&x, &len);
	TEST_CHECK(s2 && !strncmp(s2, "a 1\n", 4) && strstr(s2, "dpt_scrapes_total 2\n") &&
			   len == strlen(s2),
		   "scrape-counts", "%s", s2 ? s2 : "");
	free(s2);
	exp_text_fini(&x);
	return test_done();
}
