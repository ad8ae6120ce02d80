/* sanctl device add DEVICE | list [--json] | remove LABEL (DESIGN §8, SEEDS
 * PolyServe Fig. 12). The naming database is keyed by the device's sanfs
 * label and UUID, read here through blockdev (block 0). add and remove bump
 * the SAN generation on the ADM and return once every live node applied it
 * (the nodes that did not within the time-out are listed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev/bdev.h"
#include "cli/admin_client.h"
#include "cli/commands.h"
#include "node/admin_proto.h"
#include "node/nodeconf.h"

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: sanctl [--state DIR] device add DEVICE | list [--json] | remove LABEL\n"
		   "  add DEVICE    register a device labelled by `sanctl mkfs` in the cluster\n"
		   "  list          the registered devices\n"
		   "  remove LABEL  unregister a device (refused while a filesystem uses it)\n");
	return rc;
}

static void print_unacked(json_t *r)
{
	json_t *un = json_object_get(r, "unacked"), *e;
	size_t i;
	if (!json_array_size(un))
		return;
	fprintf(stderr, "warning: nodes that did not acknowledge in time:");
	json_array_foreach(un, i, e) fprintf(stderr, " %lld", (long long)json_integer_value(e));
	fprintf(stderr, "\n");
}

static void uuid_text(const char *hex, char out[BDEV_UUID_STR])
{
	uint8_t u[16];
	if (nconf_hex_decode(hex, u, sizeof(u)))
		snprintf(out, BDEV_UUID_STR, "%s", hex);
	else
		bdev_uuid_format(u, out);
}

int cmd_device(const struct sanctl_globals *g, int argc, char **argv)
{
	json_t *req, *r;
	if (argc < 2)
		return usage(stderr, 2);
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
		return usage(stdout, 0);
	if (!strcmp(sub, "add")) {
		if (argc != 3) {
			fprintf(stderr, "sanctl device add: expected one DEVICE\n");
			return 2;
		}
		struct bdev *dev;
		struct bdev_label l;
		int rc = bdev_open(argv[2], BDEV_RDONLY, &dev);
		if (rc) {
			fprintf(stderr, "sanctl device add: %s: %s\n", argv[2], strerror(-rc));
			return 1;
		}
		rc = bdev_label_read(dev, &l);
		bdev_close(dev);
		if (rc) {
			fprintf(stderr, "sanctl device add: %s: %s\n", argv[2],
				rc == -ENODATA	 ? "no sanfs label (run sanctl mkfs first)"
				: rc == -EBADMSG ? "sanfs label is corrupt"
						 : strerror(-rc));
			return 1;
		}
		if (!l.label[0]) {
			fprintf(stderr, "sanctl device add: %s has an empty label (mkfs --label)\n",
				argv[2]);
			return 1;
		}
		char hex[33];
		nconf_hex_encode(l.uuid, sizeof(l.uuid), hex);
		req = aproto_request("device.add");
		json_object_set_new(req, "uuid", json_string(hex));
		json_object_set_new(req, "label", json_string(l.label));
		json_object_set_new(req, "size", json_integer((json_int_t)l.size));
		json_object_set_new(req, "path", json_string(argv[2]));
		rc = admin_call_or_print("device add", g->state_dir, req, 30000, &r);
		json_decref(req);
		if (rc)
			return rc;
		printf("device %s added, SAN generation %lld\n", l.label,
		       (long long)json_integer_value(json_object_get(r, "generation")));
		print_unacked(r);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "remove")) {
		if (argc != 3 || !bdev_label_valid(argv[2]) || !argv[2][0]) {
			fprintf(stderr, "sanctl device remove: expected one valid LABEL\n");
			return 2;
		}
		req = aproto_request("device.remove");
		json_object_set_new(req, "label", json_string(argv[2]));
		int rc = admin_call_or_print("device remove", g->state_dir, req, 30000, &r);
		json_decref(req);
		if (rc)
			return rc;
		printf("device %s removed, SAN generation %lld\n", argv[2],
		       (long long)json_integer_value(json_object_get(r, "generation")));
		print_unacked(r);
		json_decref(r);
		return 0;
	}
	if (!strcmp(sub, "list")) {
		bool json = argc == 3 && !strcmp(argv[2], "--json");
		if (argc > 3 || (argc == 3 && !json))
			return usage(stderr, 2);
		req = aproto_request("device.list");
		int rc = admin_call_or_print("device list", g->state_dir, req, 5000, &r);
		json_decref(req);
		if (rc)
			return rc;
		json_t *devs = json_object_get(r, "devices"), *e;
		size_t i;
		if (json) {
			char *s = json_dumps(devs, JSON_INDENT(2));
			printf("%s\n", s ? s : "[]");
			free(s);
		} else {
			printf("%-20s %-36s %14s %s\n", "LABEL", "UUID", "SIZE", "STATE");
			json_array_foreach(devs, i, e)
			{
				char u[BDEV_UUID_STR];
				uuid_text(json_string_value(json_object_get(e, "uuid")), u);
				printf("%-20s %-36s %14lld %s\n",
				       json_string_value(json_object_get(e, "label")), u,
				       (long long)json_integer_value(json_object_get(e, "size")),
				       json_string_value(json_object_get(e, "state")));
			}
		}
		json_decref(r);
		return 0;
	}
	fprintf(stderr, "sanctl device: unknown subcommand '%s' (see --help)\n", sub);
	return 2;
}
