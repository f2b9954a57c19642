/* Unit tests: Qemu-DPT lines and bitmap files, CSV rows, writer error paths. */
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/writer.h"
#include "writers/bitmaps.h"

static char dir[] = "/tmp/dpt-writers-XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[65536];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

static unsigned count_files(const char *d, const char *prefix)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	unsigned n = 0;

	while (dp && (e = readdir(dp)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (dp)
		closedir(dp);
	return n;
}

static struct dpt_sample make_sample(uint64_t seq, uint64_t total, uint64_t *bm, double secs)
{
	struct dpt_sample s = {.seq = seq, .total = total, .page_size = 4096, .bitmap = bm};

	s.mono_start = (struct timespec){100, 0};
	s.mono_end = (struct timespec){100 + (time_t)secs, (long)((secs - (long)secs) * 1e9)};
	s.wall_end = (struct timespec){1434530585, 0};
	s.wall_start = s.wall_end;
	s.dirty = bm ? bitmap_weight(bm, total) : 0;
	return s;
}

extern const struct dpt_writer_ops text_writer_ops, csv_writer_ops, ndjson_writer_ops;

static void test_text_and_bitmaps(void)
{
	const uint64_t total = 1000;
	uint64_t bm[16] = {0};
	char arg[600], out[256], line1[512];
	struct dpt_run_info info = {.owner_pid = 14528, .interval_ns = 1000000000};
	struct dpt_writer w = {.ops = &text_writer_ops};
	regex_t re;

	for (unsigned i = 0; i < total; i += 7)
		bitmap_set(bm, i);
	snprintf(out, sizeof(out), "%s/lines.txt", dir);
	snprintf(arg, sizeof(arg), "file=%s,bitmaps=%s", out, dir);
	TEST_CHECK(!text_writer_ops.open(&w, arg, &info), "text-open", "%s", dpt_last_error());
	struct dpt_sample s1 = make_sample(1, total, bm, 0.5);
	struct dpt_sample s2 = make_sample(2, total, bm, 1.0);
	w.ops->start(&w);
	TEST_CHECK(!w.ops->sample(&w, &s1), "text-sample-1", "%s", dpt_last_error());
	TEST_CHECK(!w.ops->sample(&w, &s2), "text-sample-2-same-second", "%s", dpt_last_error());
	w.ops->stop(&w);
	TEST_CHECK(!w.ops->close(&w), "text-close", "%s", dpt_last_error());

	char *text = slurp(out);
	/* Qemu-DPT: "create bitmap %s (%zu bytes), dirty %lu / %zu (%.3f MB/s)" */
	regcomp(&re,
		"^start dirty page tracking\n"
		"create bitmap ([^ ]+) \\(([0-9]+) bytes\\), dirty ([0-9]+) / ([0-9]+) \\(([0-9]+\\.[0-9]{3}) MB/s\\)\n"
		"create bitmap ([^ ]+) \\(([0-9]+) bytes\\), dirty [0-9]+ / [0-9]+ \\([0-9]+\\.[0-9]{3} MB/s\\)\n"
		"stop dirty page tracking\n$",
		REG_EXTENDED);
	regmatch_t m[8];
	int ok = !regexec(&re, text, 8, m, 0);
	TEST_CHECK(ok, "text-format", "output does not match Qemu-DPT's format:\n%s", text);
	if (!ok)
		return;
	snprintf(line1, sizeof(line1), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), text + m[1].rm_so);
	char want[256];
	snprintf(want, sizeof(want), "%s/qemu.bm-14528.1434530585", dir);
	TEST_CHECK(!strcmp(line1, want), "bitmap-name", "got %s, want %s", line1, want);
	TEST_CHECK(atoll(text + m[2].rm_so) == 128, "bitmap-bytes-printed", "printed %lld bytes",
		   atoll(text + m[2].rm_so));
	TEST_CHECK(atoll(text + m[3].rm_so) == 143 && atoll(text + m[4].rm_so) == 1000,
		   "dirty-counts", "printed %lld / %lld", atoll(text + m[3].rm_so),
		   atoll(text + m[4].rm_so));
	/* 143 pages x 4096 / 2^20 / 0.5 s = 1.117 MB/s: the measured interval, not 1 s */
	TEST_CHECK(!strncmp(text + m[5].rm_so, "1.117", 5), "rate-uses-interval", "printed %.5s",
		   text + m[5].rm_so);
	char second[256];
	snprintf(second, sizeof(second), "%.*s", (int)(m[6].rm_eo - m[6].rm_so), text + m[6].rm_so);
	TEST_CHECK(strcmp(second, line1) != 0 && strstr(second, ".1434530585."),
		   "bitmap-suffix-same-second", "second file %s", second);
	regfree(&re);

	uint64_t *words;
	size_t n;
	TEST_CHECK(!bitmap_file_read(line1, &words, &n) && n == bitmap_words(total) &&
			   !memcmp(words, bm, n * 8),
		   "bitmap-readback", "file holds %zu words or other bits", n);
	struct stat st;
	stat(line1, &st);
	TEST_CHECK(st.st_size == (off_t)bitmap_bytes(total), "bitmap-size", "%lld bytes",
		   (long long)st.st_size);
	free(words);
}

static void test_no_overwrite_and_compat(void)
{
	char sub[256], path[512], arg[600];
	uint64_t bm[2] = {5, 0};
	struct dpt_run_info info = {.owner_pid = 77};
	struct dpt_writer w = {.ops = &text_writer_ops};

	snprintf(sub, sizeof(sub), "%s/excl", dir);
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/qemu.bm-77.1434530585", sub);
	FILE *f = fopen(path, "w");
	fputs("precious", f);
	fclose(f);
	snprintf(arg, sizeof(arg), "file=/dev/null,bitmaps=%s,compat", sub);
	text_writer_ops.open(&w, arg, &info);
	struct dpt_sample all = make_sample(0, 100, NULL, 0);
	all.flags = DPT_SAMPLE_ALL;
	all.dirty = 100;
	struct dpt_sample fin = make_sample(1, 100, bm, 1);
	fin.flags = DPT_SAMPLE_FINAL;
	TEST_CHECK(!w.ops->sample(&w, &all), "compat-all-sample", "%s", dpt_last_error());
	TEST_CHECK(!w.ops->sample(&w, &fin), "compat-final-sample", "%s", dpt_last_error());
	w.ops->close(&w);
	TEST_CHECK(!strcmp(slurp(path), "precious"), "never-overwrite", "existing file changed");
	uint64_t *words;
	size_t n;
	snprintf(path, sizeof(path), "%s/qemu.bm-77.1434530585.1", sub);
	TEST_CHECK(!bitmap_file_read(path, &words, &n) && n == 2 && words[0] == ~0ULL &&
			   words[1] == (1ULL << 36) - 1,
		   "compat-all-ones", "first bitmap is not all ones over 100 pages");
	free(words);
	words = NULL;
	snprintf(path, sizeof(path), "%s/qemu.bm-77.1434530586", sub);
	TEST_CHECK(!bitmap_file_read(path, &words, &n) && words[0] == 5, "compat-final-plus-1",
		   "final bitmap not named after the next second");
	free(words);
}

static void test_csv(void)
{
	char path[256];
	uint64_t bm[2] = {0xff, 0};
	uint64_t vc[2] = {5, 3};
	struct dpt_run_info info = {.nr_vcpus = 2};
	struct dpt_writer w = {.ops = &csv_writer_ops};

	snprintf(path, sizeof(path), "%s/out.csv", dir);
	TEST_CHECK(!csv_writer_ops.open(&w, path, &info), "csv-open", "%s", dpt_last_error());
	struct dpt_sample s = make_sample(3, 100, bm, 0.25);
	s.nr_vcpus = 2;
	s.vcpu_dirty = vc;
	s.flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL;
	w.ops->sample(&w, &s);
	w.ops->close(&w);
	const char *want = "seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages,"
			   "vcpu0_pages,vcpu1_pages\n"
			   "3,1434530585.000000,0.250000,8,100,0.125,final|partial,,5,3\n";
	TEST_CHECK(!strcmp(slurp(path), want), "csv-row", "got:\n%s", slurp(path));

	/* a tracker that counts discards; a lost final interval: unknown, not 0 */
	struct dpt_run_info info2 = {.counts_discarded = true};
	struct dpt_writer w2 = {.ops = &csv_writer_ops};
	snprintf(path, sizeof(path), "%s/out2.csv", dir);
	TEST_CHECK(!csv_writer_ops.open(&w2, path, &info2), "csv-open-2", "%s", dpt_last_error());
	struct dpt_sample a = make_sample(1, 100, bm, 1);
	a.discarded = 12;
	a.flags = DPT_SAMPLE_HUGE | DPT_SAMPLE_UNTRACKED;
	struct dpt_sample b = make_sample(2, 100, NULL, 0.5);
	b.flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST;
	w2.ops->sample(&w2, &a);
	w2.ops->sample(&w2, &b);
	w2.ops->close(&w2);
	want = "seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages\n"
	       "1,1434530585.000000,1.000000,8,100,0.031,huge|untracked,12\n"
	       "2,1434530585.000000,0.500000,,100,,final|partial|lost,\n";
	TEST_CHECK(!strcmp(slurp(path), want), "csv-discarded-lost", "got:\n%s", slurp(path));
}

/* A lost final interval: a line without a count, and no bitmap file. */
static void test_lost_text(void)
{
	char arg[600], out[256], sub[256];
	struct dpt_run_info info = {.owner_pid = 99, .interval_ns = 1000000000};
	struct dpt_writer w = {.ops = &text_writer_ops};
	struct dpt_sample s = make_sample(7, 100, NULL, 0.25);

	snprintf(out, sizeof(out), "%s/lost.txt", dir);
	snprintf(sub, sizeof(sub), "%s/lostbm", dir);
	mkdir(sub, 0700);
	snprintf(arg, sizeof(arg), "file=%s,bitmaps=%s", out, sub);
	TEST_CHECK(!text_writer_ops.open(&w, arg, &info), "lost-open", "%s", dpt_last_error());
	s.flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST;
	TEST_CHECK(!w.ops->sample(&w, &s), "lost-sample", "%s", dpt_last_error());
	w.ops->close(&w);
	TEST_CHECK(!strcmp(slurp(out), "interval 7 (0.250 s, lost): its dirty pages went with the "
				       "target\n"),
		   "lost-line", "got: %s", slurp(out));
	TEST_CHECK(count_files(sub, "qemu.bm-") == 0, "lost-no-bitmap", "a bitmap file was written");
}

static void test_errors(void)
{
	struct dpt_run_info info = {.owner_pid = 1};
	struct dpt_writer w = {.ops = &text_writer_ops};
	char arg[300];

	dpt_clear_error();
	TEST_CHECK(text_writer_ops.open(&w, "bitmaps=/nonexistent/dir", &info) == -ENOENT,
		   "bitmaps-missing-dir", "accepted");
	dpt_clear_error();
	TEST_CHECK(text_writer_ops.open(&w, "bitmaps=/proc", &info) < 0 && dpt_last_error() &&
			   strstr(dpt_last_error(), "/proc"),
		   "bitmaps-unwritable-dir", "accepted or unclear: %s", dpt_last_error());
	dpt_clear_error();
	snprintf(arg, sizeof(arg), "bitmaps=%s/lines.txt", dir);
	TEST_CHECK(text_writer_ops.open(&w, arg, &info) == -ENOTDIR, "bitmaps-not-a-dir",
		   "accepted");
	unsigned before = count_files(dir, ".dpt-probe");
	TEST_CHECK(before == 0, "no-probe-files-left", "%u left", before);
	dpt_clear_error();
	struct dpt_writer c = {.ops = &csv_writer_ops};
	TEST_CHECK(csv_writer_ops.open(&c, "/nonexistent/x.csv", &info) == -ENOENT, "csv-bad-path",
		   "accepted");
	char path[256];
	snprintf(path, sizeof(path), "%s/discard.csv", dir);
	csv_writer_ops.open(&c, path, &info);
	c.discard = true;
	c.ops->close(&c);
	TEST_CHECK(access(path, F_OK) != 0, "csv-discard-removes", "file left behind");
}

/* ndjson: exact times, nulls for what is unknown, regions when they change, process rows,
 * bytes that are not UTF-8, a session without an interval. */
static void test_ndjson(void)
{
	char path[256];
	uint64_t bm[2] = {0xff, 0};
	struct dpt_region reg[2] = {{.start = 0x1000, .pages = 60, .name = "[heap]"},
				    {.start = 0x9000, .pages = 40, .first_page = 60, .name = "a\xff\"b"}};
	struct dpt_proc procs[2] = {{.pid = 10, .ppid = 1, .comm = "w,r\"x", .dirty = 5, .total = 60,
				     .flags = DPT_PROC_BORN},
				    {.pid = 11, .ppid = 10, .comm = "\xc3", .dirty = 3, .total = 40,
				     .discarded = 2, .flags = DPT_PROC_EXITED | DPT_PROC_LOST}};
	struct dpt_run_info info = {.tracker = "pid", .mode = "uffd", .target_desc = "t\"x",
				    .owner_pid = 10, .interval_ns = 250000000, .counts_discarded = true,
				    .per_process = true, .command = "dpt track"};
	struct dpt_writer w = {.ops = &ndjson_writer_ops};

	snprintf(path, sizeof(path), "%s/out.ndjson", dir);
	TEST_CHECK(!ndjson_writer_ops.open(&w, path, &info), "ndjson-open", "%s", dpt_last_error());
	struct dpt_sample a = make_sample(1, 100, bm, 0.25);
	a.mono_end = (struct timespec){100, 250000001};
	a.wall_start = (struct timespec){1434530584, 999999999};
	a.discarded = 2;
	a.nr_regions = 2;
	a.regions = reg;
	a.regions_changed = true;
	a.nr_procs = 2;
	a.procs = procs;
	struct dpt_sample b = a; /* same regions: not written again */
	b.seq = 2;
	b.regions_changed = false;
	b.nr_procs = 0;
	b.flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST;
	w.ops->start(&w);
	TEST_CHECK(!w.ops->sample(&w, &a) && !w.ops->sample(&w, &b), "ndjson-samples", "%s",
		   dpt_last_error());
	w.ops->stop(&w);
	w.ops->start(&w);
	w.ops->stop(&w);
	TEST_CHECK(!w.ops->close(&w), "ndjson-close", "%s", dpt_last_error());
	const char *want =
		"{\"type\":\"run\",\"interval_s\":0.250000000,\"tracker\":\"pid\",\"mode\":\"uffd\","
		"\"target\":\"t\\\"x\",\"pid\":10,\"vcpus\":0,\"estimate\":false,\"discards\":true,"
		"\"processes\":true,\"compat\":false,\"command\":\"dpt track\"}\n"
		"{\"type\":\"start\",\"time\":1434530584.999999999}\n"
		"{\"type\":\"interval\",\"seq\":1,\"start\":1434530584.999999999,"
		"\"end\":1434530585.000000000,\"interval_s\":0.250000001,\"dirty_pages\":8,"
		"\"total_pages\":100,\"discarded_pages\":2,\"mib_s\":0.125,\"flags\":[],"
		"\"regions\":[{\"name\":\"[heap]\",\"start\":4096,\"pages\":60,\"first_page\":0,"
		"\"granule\":0},{\"name\":\"a?\\\"b\",\"start\":36864,\"pages\":40,"
		"\"first_page\":60,\"granule\":0}],\"processes\":[{\"pid\":10,\"ppid\":1,"
		"\"comm\":\"w,r\\\"x\",\"dirty_pages\":5,\"total_pages\":60,\"discarded_pages\":0,"
		"\"flags\":[\"born\"]},{\"pid\":11,\"ppid\":10,\"comm\":\"?\",\"dirty_pages\":3,"
		"\"total_pages\":40,\"discarded_pages\":2,\"flags\":[\"exited\",\"lost\"]}]}\n"
		"{\"type\":\"interval\",\"seq\":2,\"start\":1434530584.999999999,"
		"\"end\":1434530585.000000000,\"interval_s\":0.250000001,\"dirty_pages\":null,"
		"\"total_pages\":100,\"discarded_pages\":null,\"mib_s\":null,"
		"\"flags\":[\"final\",\"partial\",\"lost\"],\"processes\":[]}\n"
		"{\"type\":\"stop\",\"time\":1434530585.000000000}\n"
		"{\"type\":\"start\",\"time\":null}\n"
		"{\"type\":\"stop\",\"time\":null}\n";
	TEST_CHECK(!strcmp(slurp(path), want), "ndjson-lines", "got:\n%s", slurp(path));

	struct dpt_writer c = {.ops = &ndjson_writer_ops};
	dpt_clear_error();
	TEST_CHECK(ndjson_writer_ops.open(&c, "/nonexistent/x.ndjson", &info) == -ENOENT,
		   "ndjson-bad-path", "accepted");
	dpt_clear_error();
	TEST_CHECK(ndjson_writer_ops.open(&c, "", &info) == -EINVAL, "ndjson-no-path", "accepted");
	snprintf(path, sizeof(path), "%s/discard.ndjson", dir);
	ndjson_writer_ops.open(&c, path, &info);
	c.discard = true;
	c.ops->close(&c);
	TEST_CHECK(access(path, F_OK) != 0, "ndjson-discard-removes", "file left behind");
}

/* Qemu-DPT file names read back: the inverse of the writer's naming, canonical only. */
static void test_name_parse(void)
{
	static const struct {
		const char *name;
		int ok;
		pid_t pid;
		int64_t secs;
		unsigned suffix;
	} cases[] = {
		{"qemu.bm-14528.1434530585", 1, 14528, 1434530585, 0},
		{"qemu.bm-14528.1434530585.1", 1, 14528, 1434530585, 1},
		{"qemu.bm-1.0.12", 1, 1, 0, 12},
		{"qemu.bm-14528.1434530585.0", 0, 0, 0, 0},  /* the writer never adds .0 */
		{"qemu.bm-014528.1434530585", 0, 0, 0, 0},   /* leading zero: not a name it writes */
		{"qemu.bm-14528.1434530585.", 0, 0, 0, 0},
		{"qemu.bm-14528", 0, 0, 0, 0},
		{"qemu.bm--1.5", 0, 0, 0, 0},
		{"qemu.bm-99999999999.5", 0, 0, 0, 0},	   /* pid out of range */
		{"qemu.bm-1.5.1.1", 0, 0, 0, 0},
		{"qemu.bm-1.5x", 0, 0, 0, 0},
		{"README", 0, 0, 0, 0},
		{".dpt-probe-abc123", 0, 0, 0, 0},
	};
	char why[300] = "";

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t pid = 0;
		int64_t secs = 0;
		unsigned suffix = 0;
		int ok = !bitmap_name_parse(cases[i].name, &pid, &secs, &suffix);

		if (ok != cases[i].ok || (ok && (pid != cases[i].pid || secs != cases[i].secs ||
						 suffix != cases[i].suffix))) {
			snprintf(why, sizeof(why), "%s: %s (pid %d, secs %lld, suffix %u)",
				 cases[i].name, ok ? "accepted" : "refused", (int)pid,
				 (long long)secs, suffix);
			break;
		}
	}
	TEST_CHECK(!why[0], "bitmap-name-parse", "%s", why);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_text_and_bitmaps();
	test_no_overwrite_and_compat();
	test_csv();
	test_lost_text();
	test_errors();
	test_name_parse();
	test_ndjson();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return test_done();
}
