/* sanctl fsck DEVICE [--repair] [--json] (DESIGN §8): check a sanfs
 * filesystem that is not mounted; with --repair fix what can be fixed and
 * list each change. Exit status as e2fsck: 0 clean, 1 errors repaired,
 * 4 errors left, 8 operational error (cannot open, mounted, I/O). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "fs/fsck.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sanctl fsck DEVICE [--repair] [--json]\n"
		"\n"
		"Check the sanfs filesystem on DEVICE (it must not be mounted anywhere).\n"
		"  --repair   fix what can be fixed; every change is listed\n"
		"  --json     one JSON object on stdout instead of text lines\n"
		"  --verbose  progress lines (also shown when stderr is a terminal)\n"
		"Exit status: 0 clean, 1 errors repaired, 4 errors left, 8 operational error.\n");
}

static const char *const kind_names[] = {"info", "warning", "error", "fixed"};

struct out {
	bool json;
	bool first;
	bool progress;
	unsigned last_phase;
};

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void on_msg(void *arg, enum fsck_kind kind, const char *text)
{
	struct out *o = arg;
	if (o->json) {
		printf("%s\n    {\"kind\": \"%s\", \"text\": ", o->first ? "" : ",",
		       kind_names[kind]);
		json_str(text);
		putchar('}');
		o->first = false;
	} else {
		printf("%s: %s\n", kind_names[kind], text);
	}
}

static void on_progress(void *arg, unsigned phase, uint64_t done, uint64_t total)
{
	static const char *const names[] = {
	    "",	      "superblock",	 "slots and journals", "allocation groups",
	    "inodes", "block references"};
	struct out *o = arg;
	if (!o->progress || phase == o->last_phase || phase > 5)
		return;
	(void)done;
	fprintf(stderr, "sanctl fsck: phase %u/5: %s (%" PRIu64 ")\n", phase, names[phase], total);
	o->last_phase = phase;
}

int cmd_fsck(const struct sanctl_globals *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"repair", no_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct out out = {.first = true};
	struct fsck_opts fo = {
	    .msg = on_msg, .msg_arg = &out, .progress = on_progress, .progress_arg = &out};
	bool verbose = g->verbose;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "rjvh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			fo.repair = true;
			break;
		case 'j':
			out.json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr,
				"sanctl fsck: unknown option '%s' (see sanctl fsck --help)\n",
				argv[optind - 1]);
			return 8;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, optind >= argc
				    ? "sanctl fsck: missing DEVICE (see sanctl fsck --help)\n"
				    : "sanctl fsck: too many arguments (see sanctl fsck --help)\n");
		return 8;
	}
	out.progress = verbose || (isatty(2) && !out.json);
	const char *dev = argv[optind];
	if (out.json) {
		printf("{\n  \"device\": ");
		json_str(dev);
		printf(",\n  \"repair\": %s,\n  \"messages\": [", fo.repair ? "true" : "false");
	}
	struct fsck_result r;
	fsck_run(dev, &fo, &r);
	if (out.json) {
		printf("\n  ],\n  \"errors\": %u,\n  \"fixed\": %u,\n  \"warnings\": %u,\n"
		       "  \"inodes\": %" PRIu64 ",\n  \"used_blocks\": %" PRIu64
		       ",\n  \"free_blocks\": %" PRIu64 ",\n  \"exit_code\": %d\n}\n",
		       r.errors, r.fixed, r.warnings, r.inodes, r.used_blocks, r.free_blocks,
		       r.exit_code);
	} else {
		printf("%s: %s: %u error(s) left, %u fixed, %" PRIu64 " inodes, %" PRIu64
		       " blocks used, %" PRIu64 " free\n",
		       dev,
		       r.exit_code == 0	  ? "clean"
		       : r.exit_code == 1 ? "repaired"
		       : r.exit_code == 4 ? "errors left"
					  : "not checked",
		       r.errors, r.fixed, r.inodes, r.used_blocks, r.free_blocks);
	}
	return r.exit_code;
}
