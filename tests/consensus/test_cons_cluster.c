/* Integration tests of consensus/: 3 and 5 Raft members in one process over
 * the real libraft, its uv backend and the authenticated TCP transport on
 * 127.0.0.1. A leader is elected and becomes ADM; commands commit on every
 * member; stopping the leader gives a new one within 3 s and a higher SAN
 * generation; restarting every member from its directory keeps the state; a
 * member with the wrong key never joins (and does once it has the right
 * one); a minority commits nothing; snapshots, CCD checkpoint and restore.
 * Faults and special paths are in test_cons_faults.c. State directories under /var/tmp (ext4; the
 * raft log needs O_DIRECT). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/consensus/cluster_util.h"

static void cluster_scenario(int n)
{
	struct same_arg sa = {.n = n};
	struct cons_cluster cl;
	struct cons_member *mem;
	size_t nm;
	char **rows;
	size_t nr;

	make_cluster(n);
	int li = leader();
	ck_assert_int_ge(li, 0);

	/* Commands commit and apply on every member. */
	struct cons_cmd c = device_cmd(1, "data0");
	int64_t gen = propose(li, &c);
	ck_assert_int_gt(gen, 0);
	c = device_cmd(2, "data1");
	ck_assert_int_eq(propose(li, &c), gen + 1);
	struct cons_cmd f;
	memset(&f, 0, sizeof(f));
	f.type = CONS_CMD_CCD_FORMAT;
	strcpy(f.u.ccd.key, "svc");
	strcpy(f.u.ccd.text, "name:port");
	ck_assert_int_eq(propose(li, &f), 1);
	f.type = CONS_CMD_CCD_ADD;
	strcpy(f.u.ccd.text, "www:80");
	ck_assert_int_eq(propose(li, &f), 2);
	/* A command refused by apply reports its errno as the result. */
	c = device_cmd(3, "data0");
	ck_assert_int_eq(propose(li, &c), -EEXIST);
	sa.ndev = 2;
	sa.gen = (uint64_t)gen + 1;
	sa.ccd_gen = 2;
	ck_assert_msg(wait_for(all_same, &sa, 5000), "commands not applied on all members");
	/* Every member knows every member (table) and the same leader. */
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(cons_get_members(nodes[i].c, &mem, &nm), 0);
		ck_assert_uint_eq(nm, (size_t)n);
		free(mem);
		ck_assert_uint_eq(cons_leader(nodes[i].c, NULL, 0), nodes[li].id);
		ck_assert_int_eq(cons_ccd_query(nodes[i].c, "svc", "w*", &rows, &nr), 0);
		ck_assert_uint_eq(nr, 1);
		ccd_rows_free(rows, nr);
	}
	/* CCD checkpoint (from a follower's local copy) and restore. */
	char ckpt[400];
	snprintf(ckpt, sizeof(ckpt), "%s/ccd.ckpt", base);
	ck_assert_int_eq(cons_ccd_checkpoint(nodes[(li + 1) % n].c, ckpt), 0);
	f.type = CONS_CMD_CCD_REMOVE;
	ck_assert_int_eq(propose(li, &f), 3);
	struct cons_cmd rc;
	uint8_t *img;
	ck_assert_int_eq(cons_ccd_restore_cmd(ckpt, &rc, &img), 0);
	ck_assert_int_eq(propose(li, &rc), 4);
	free(img);
	sa.ccd_gen = 4;
	ck_assert(wait_for(all_same, &sa, 5000));
	for (int i = 0; i < n; i++) {
		struct ccd_record r;
		ck_assert_int_eq(cons_ccd_record(nodes[i].c, &r), 0);
		ck_assert(r.restored);
		ck_assert_uint_eq(r.nmembers, (uint32_t)n);
		ck_assert_int_eq(cons_ccd_query(nodes[i].c, "svc", NULL, &rows, &nr), 0);
		ck_assert_uint_eq(nr, 1);
		ccd_rows_free(rows, nr);
	}
	ck_assert_int_eq(cons_ccd_restore_cmd("/nonexistent/ckpt", &rc, &img), -ENOENT);

	/* Every member is in contact with a majority (lease, DESIGN §6). */
	for (int i = 0; i < n; i++)
		ck_assert_uint_lt(cons_contact_age_ms(nodes[i].c), 2000);
	/* A follower refuses proposals with -EREMOTE. */
	int fo = (li + 1) % n;
	ck_assert_int_eq(cons_propose(nodes[fo].c, &c, prop_cb, NULL), -EREMOTE);

	/* Stop the leader: a new authoritative leader within 3 s, which took
	 * over as ADM and incremented the generation. */
	uint64_t old_gen = sa.gen, old_leader = nodes[li].id;
	node_stop(li);
	uint64_t t0 = now_ms();
	ck_assert_msg(wait_for(has_adm, NULL, 3000), "no new ADM within 3 s");
	uint64_t took = now_ms() - t0;
	printf("n=%d: new ADM after %llu ms\n", n, (unsigned long long)took);
	int nl = leader();
	ck_assert_uint_ne(nodes[nl].id, old_leader);
	cons_get_cluster(nodes[nl].c, &cl);
	ck_assert_uint_gt(cl.generation, old_gen);
	ck_assert_uint_eq(cl.adm_id, nodes[nl].id);
	/* The survivors still commit. */
	c = device_cmd(4, "data4");
	ck_assert_int_gt(propose(nl, &c), 0);
	sa.ndev = 3;
	sa.gen = 0;
	ck_assert(wait_for(all_same, &sa, 5000));

	/* More commands than the snapshot threshold: snapshots are taken. */
	for (int k = 0; k < 12; k++) {
		struct cons_cmd g;
		memset(&g, 0, sizeof(g));
		g.type = CONS_CMD_GEN_BUMP;
		ck_assert_int_gt(propose(nl, &g), 0);
	}
	run_ms(300);
	ck_assert_msg(has_snapshot(nl), "no snapshot taken");

	/* Restart every member from its directory: state intact. */
	cons_get_cluster(nodes[nl].c, &cl);
	uint64_t gen_before = cl.generation;
	for (int i = 0; i < n; i++)
		node_stop(i);
	for (int i = 0; i < n; i++)
		node_start(i, false);
	ck_assert_msg(wait_for(has_adm, NULL, 10000), "no ADM after restart");
	sa.ndev = 3;
	sa.min_gen = gen_before + 1; /* the restart elected an ADM again */
	ck_assert_msg(wait_for(all_same, &sa, 5000), "state lost or diverged after restart");
	for (int i = 0; i < n; i++) {
		cons_get_cluster(nodes[i].c, &cl);
		ck_assert_uint_gt(cl.generation, gen_before); /* restart elected an ADM: +1 */
		ck_assert_int_eq(cons_ccd_query(nodes[i].c, "svc", NULL, &rows, &nr), 0);
		ck_assert_uint_eq(nr, 1);
		ck_assert_str_eq(rows[0], "www:80");
		ccd_rows_free(rows, nr);
	}
	/* A bootstrap over an existing cluster directory is refused. */
	node_stop(0);
	struct cons_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.id = nodes[0].id;
	cfg.address = nodes[0].addr;
	cfg.state_dir = nodes[0].dir;
	cfg.key = key;
	ck_assert_int_eq(cons_open(&loop, &cfg, &nodes[0].c), 0);
	ck_assert_int_eq(cons_bootstrap(nodes[0].c), -EEXIST);
}

START_TEST(three_members)
{
	cluster_scenario(3);
}
END_TEST

START_TEST(five_members)
{
	cluster_scenario(5);
}
END_TEST

START_TEST(wrong_key_cannot_join)
{
	static struct done d; /* its callback may run during teardown */
	make_cluster(1);
	/* Node 2 has another key (same cluster id, so only the MACs differ). */
	nodes[1].key.key[0] ^= 0x55;
	node_start(1, false);
	ck_assert_int_eq(cons_member_add(nodes[0].c, nodes[1].id, nodes[1].addr, change_cb, &d), 0);
	run_ms(3000);
	/* Node 2 never received an entry: nothing applied, no members. */
	struct cons_member *mem;
	size_t nm;
	ck_assert_uint_eq(cons_applied(nodes[1].c), 0);
	ck_assert_int_eq(cons_get_members(nodes[1].c, &mem, &nm), 0);
	ck_assert_uint_eq(nm, 0);
	ck_assert(!d.fired || d.status != 0);
	/* The leader keeps working (it still has its own majority only if the
	 * promotion did not happen: node 2 was never made a voter). */
	ck_assert(cons_is_leader(nodes[0].c));
	uint64_t ids[4];
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 1);
	/* The promotion fails (the member never catches up). */
	ck_assert(wait_for(fired, &d, 15000));
	ck_assert_int_ne(d.status, 0);
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 1);
	/* With the right key, the retried add resumes and succeeds. */
	node_stop(1);
	nodes[1].key = key;
	node_start(1, false);
	add_member(0, 1);
	ck_assert_uint_eq(cons_voters(nodes[0].c, ids, 4), 2);
	struct same_arg sa = {.n = 2, .min_gen = 1};
	ck_assert(wait_for(all_same, &sa, 5000));
}
END_TEST

START_TEST(minority_cannot_commit)
{
	make_cluster(3);
	int li = leader();
	/* Keep only one member (the leader): a minority of 3. */
	for (int i = 0; i < 3; i++)
		if (i != li)
			node_stop(i);
	struct cons_cluster before, after;
	cons_get_cluster(nodes[li].c, &before);
	int committed = 0, tries = 0;
	uint64_t end = now_ms() + 3000;
	static struct done pool[1024]; /* callbacks may run after this loop */
	while (now_ms() < end && tries < 1024) {
		struct done *d = &pool[tries];
		struct cons_cmd c;
		memset(&c, 0, sizeof(c));
		c.type = CONS_CMD_GEN_BUMP;
		if (cons_propose(nodes[li].c, &c, prop_cb, d) == 0) {
			tries++;
			wait_for(fired, d, 300);
			if (d->fired && d->status == 0)
				committed++;
		} else {
			run_ms(100);
		}
	}
	cons_get_cluster(nodes[li].c, &after);
	ck_assert_int_eq(committed, 0);
	ck_assert_uint_eq(after.generation, before.generation);
	/* Raft notices the lost majority: the lone member is not authoritative
	 * and its lease clock says it has not heard from a majority for long. */
	ck_assert(!cons_is_authoritative(nodes[li].c));
	ck_assert_uint_gt(cons_contact_age_ms(nodes[li].c), 1000);
	printf("minority: %d proposals accepted for replication, 0 committed\n", tries);
	/* Bring one back: majority again, commits resume. */
	int other = (li + 1) % 3;
	node_start(other, false);
	ck_assert_msg(wait_for(has_adm, NULL, 10000), "no ADM after healing");
	struct cons_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = CONS_CMD_GEN_BUMP;
	ck_assert_int_gt(propose(leader(), &c), (int64_t)before.generation);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("consensus-cluster");
	TCase *tc = tcase_create("cluster");
	tcase_add_checked_fixture(tc, cluster_setup, cluster_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, three_members);
	tcase_add_test(tc, five_members);
	tcase_add_test(tc, wrong_key_cannot_join);
	tcase_add_test(tc, minority_cannot_commit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cluster_main(suite(), "sanfs-cons-it");
}
