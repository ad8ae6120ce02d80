/* Resource mastery (DESIGN §5): each resource is mastered by the live member
 * chosen by hashing its name over the current member list, so no node is on
 * the path of every lock.
 *
 * Rendezvous (highest-random-weight) hashing: the master is the member whose
 * hash of (resource name, member id) is highest. Every node computes the same
 * answer from the same member list in any order, and when a member leaves only
 * the resources it mastered move (to their second choice) — recovery then
 * touches exactly those, not every resource. */
#ifndef SANFS_LOCKS_DLM_MASTER_H
#define SANFS_LOCKS_DLM_MASTER_H

#include <stddef.h>
#include <stdint.h>

/* Hash of a resource name (used also to place resources in tables). */
uint64_t dlm_name_hash(const void *name, size_t len);
/* The master of a resource among members[0..n); 0 when n == 0. */
uint32_t dlm_master_of(uint64_t name_hash, const uint32_t *members, size_t n);

#endif
