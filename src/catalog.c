/* SPDX-License-Identifier: MIT
 * catalog.c -- Consul JSON in, plain C records out.
 * Owns:    the only cJSON trees in srvshim: parsed, read and deleted here,
 *          and built here for the register bodies sidecar.c sends.
 * Borrows: reply bodies from the caller, only during one parse call.
 * Never:   HTTP, DNS wire, sockets, logging above debug. Whatever Consul (or
 *          something pretending to be it) sends, a parse returns an error
 *          or a result; it never crashes (tests/fuzz/fuzz_catalog.c).
 * Start reading at catalog_parse_health(). */
#include "config_feat.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catalog.h"
#include "err.h"
#include "log.h"
#include "util.h"

/* A string value longer than this is treated as absent (an ID or address:
 * the instance is handled as if the field were missing; a tag or meta pair
 * is dropped; an output becomes ""). Consul caps its own fields far lower
 * (meta values at 512 bytes, check output at 4 KiB by default), so only a
 * broken or hostile peer gets here, and nothing downstream has to cope with
 * megabyte names. Strings are C strings: a "\u0000" escape ends one early. */
#define CATALOG_STR_MAX 65536u

/* ---- cJSON plumbing --------------------------------------------------- */

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
/* cJSON 1.7.15 writes a static error position on every parse; parses are
 * serialised so two threads (watch, sidecar) never race on it. */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static void
hooks_init(void)
{
	/* cJSON allocates through xmalloc too, so out of memory aborts the
	 * same way everywhere instead of looking like a malformed body. */
	cJSON_Hooks hooks = {xmalloc, free};
	cJSON_InitHooks(&hooks);
}

/* Parses body[0..len) as exactly one JSON value: trailing bytes other than
 * white space (a NUL byte included) make it malformed; cJSON alone would
 * ignore them. Returns new (cJSON_Delete()) or NULL. */
static cJSON *
json_parse(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	pthread_once(&hooks_once, hooks_init);
	if (body == NULL || len == 0)
		return NULL;
	pthread_mutex_lock(&parse_lock);
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	pthread_mutex_unlock(&parse_lock);
	if (root == NULL)
		return NULL;
	for (; end != NULL && end < body + len; end++) {
		if (strchr(" \t\n\r", *end) == NULL || *end == '\0') {
			cJSON_Delete(root);
			return NULL;
		}
	}
	return root;
}

/* Member key of obj, case-sensitively (cJSON_GetObjectItem() is not), or
 * NULL when obj is not an object or has no such member. */
static const cJSON *
member(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The string value of it, or NULL when it is not a string or too long. */
static const char *
str_value(const cJSON *it)
{
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return NULL;
	if (strnlen(it->valuestring, CATALOG_STR_MAX + 1) > CATALOG_STR_MAX)
		return NULL;
	return it->valuestring;
}

/* The string member key of obj, or NULL (absent, wrong type, too long). */
static const char *
str_member(const cJSON *obj, const char *key)
{
	return str_value(member(obj, key));
}

/* ---- health/service ---------------------------------------------------- */

/* Consul status words (api.HealthPassing etc.). Maintenance mode shows up
 * as a "critical" check of type "maintenance", but the word is mapped too. */
static enum svc_health
health_from_status(const char *status)
{
	if (status == NULL)
		return SVC_CRITICAL;
	if (strcmp(status, "passing") == 0)
		return SVC_PASSING;
	if (strcmp(status, "warning") == 0)
		return SVC_WARNING;
	return SVC_CRITICAL; /* "critical", "maintenance", anything unknown */
}

/* A weight: default 1 unless it is a number; clamped to 0..65535 (Consul
 * takes any int, SRV weights are 16 bits, RFC 2782). */
static uint32_t
weight_value(const cJSON *it)
{
	double d;

	if (!cJSON_IsNumber(it))
		return 1;
	d = it->valuedouble;
	if (d != d) /* NaN: cJSON cannot produce it, but be sure */
		return 1;
	if (d <= 0)
		return 0;
	if (d >= 65535)
		return 65535;
	return (uint32_t)d;
}

/* Service.Port: an integer in 0..65535, else false. */
static bool
port_value(const cJSON *it, uint16_t *port)
{
	double d;

	if (!cJSON_IsNumber(it))
		return false;
	d = it->valuedouble;
	if (!(d >= 0 && d <= 65535) || d != (double)(uint16_t)d)
		return false;
	*port = (uint16_t)d;
	return true;
}

/* Aggregates the entry's Checks: the worst status over all of them, service
 * and node checks alike (Consul's DNS does the same), and the Output of the
 * first check with that status. No checks (absent, null, []) is passing.
 * Health data of the wrong shape fails closed: a Checks that is not an
 * array, or a check that is not an object, counts as critical. */
static void
inst_health(const cJSON *checks, struct svc_instance *in)
{
	const cJSON *chk;
	const char *worst_output = "";
	enum svc_health worst = SVC_PASSING;

	if (checks != NULL && !cJSON_IsNull(checks) && !cJSON_IsArray(checks)) {
		worst = SVC_CRITICAL;
		goto out;
	}
	cJSON_ArrayForEach(chk, checks)
	{
		enum svc_health h;

		h = health_from_status(str_member(chk, "Status"));
		if (h > worst || (h == worst && chk == checks->child)) {
			const char *o = str_member(chk, "Output");
			worst = h;
			worst_output = o ? o : "";
		}
	}
out:
	in->health = worst;
	in->check_output = xstrdup(worst_output);
}

static void
inst_tags(const cJSON *tags, struct svc_instance *in)
{
	const cJSON *t;
	size_t n = 0;

	if (!cJSON_IsArray(tags) || tags->child == NULL)
		return;
	cJSON_ArrayForEach(t, tags) n++;
	in->tags = xreallocarray(NULL, n, sizeof(*in->tags));
	cJSON_ArrayForEach(t, tags)
	{
		const char *s = str_value(t);
		if (s != NULL)
			in->tags[in->tag_count++] = xstrdup(s);
	}
}

static void
inst_meta(const cJSON *meta, struct svc_instance *in)
{
	const cJSON *m;
	size_t n = 0;

	if (!cJSON_IsObject(meta) || meta->child == NULL)
		return;
	cJSON_ArrayForEach(m, meta) n++;
	in->meta_keys = xreallocarray(NULL, n, sizeof(*in->meta_keys));
	in->meta_values = xreallocarray(NULL, n, sizeof(*in->meta_values));
	cJSON_ArrayForEach(m, meta)
	{
		const char *v = str_value(m);
		if (v == NULL || m->string == NULL ||
		    strnlen(m->string, CATALOG_STR_MAX + 1) > CATALOG_STR_MAX)
			continue;
		in->meta_keys[in->meta_count] = xstrdup(m->string);
		in->meta_values[in->meta_count] = xstrdup(v);
		in->meta_count++;
	}
}

static void
inst_fini(struct svc_instance *in)
{
	size_t i;

	free(in->id);
	free(in->node);
	free(in->address);
	for (i = 0; i < in->tag_count; i++)
		free(in->tags[i]);
	free(in->tags);
	for (i = 0; i < in->meta_count; i++) {
		free(in->meta_keys[i]);
		free(in->meta_values[i]);
	}
	free(in->meta_keys);
	free(in->meta_values);
	free(in->check_output);
	memset(in, 0, sizeof(*in));
}

/* Fills *in from one health/service entry. Returns false (and fills
 * nothing) when the entry cannot be served: not an object, no Service, no
 * usable Service.ID, or a Port that is not an integer in 0..65535. */
static bool
inst_parse(const cJSON *entry, struct svc_instance *in)
{
	const cJSON *node = member(entry, "Node");
	const cJSON *svc = member(entry, "Service");
	const cJSON *weights = member(svc, "Weights");
	const char *id = str_member(svc, "ID");
	const char *addr = str_member(svc, "Address");
	const char *nname = str_member(node, "Node");
	uint16_t port;

	if (!cJSON_IsObject(svc) || id == NULL || *id == '\0' ||
	    !port_value(member(svc, "Port"), &port))
		return false;
	if (addr == NULL || *addr == '\0')
		addr = str_member(node, "Address");
	in->id = xstrdup(id);
	in->node = xstrdup(nname ? nname : "");
	/* "" when Consul gave neither address; zone.c does not serve it. */
	in->address = xstrdup(addr ? addr : "");
	in->port = port;
	in->weight_passing = weight_value(member(weights, "Passing"));
	in->weight_warning = weight_value(member(weights, "Warning"));
	inst_tags(member(svc, "Tags"), in);
	inst_meta(member(svc, "Meta"), in);
	inst_health(member(entry, "Checks"), in);
	return true;
}

int
catalog_parse_health(const char *body, size_t len, const char *name,
		     struct svc_record *out, size_t *skipped)
{
	cJSON *root = json_parse(body, len);
	const cJSON *entry;
	struct svc_record rec = {0};
	size_t n = 0, bad = 0;

	if (skipped != NULL)
		*skipped = 0;
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -SRV_EFORMAT;
	}
	cJSON_ArrayForEach(entry, root) n++;
	rec.name = xstrdup(name ? name : "");
	rec.inst = xcalloc(n, sizeof(*rec.inst));
	cJSON_ArrayForEach(entry, root)
	{
		if (inst_parse(entry, &rec.inst[rec.count])) {
			rec.count++;
		} else {
			bad++;
			log_debug("catalog: service %s, instance skipped "
				  "(no usable Service, ID or Port)",
				  rec.name);
		}
	}
	cJSON_Delete(root);
	if (skipped != NULL)
		*skipped = bad;
	*out = rec;
	return 0;
}

void
catalog_record_fini(struct svc_record *rec)
{
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < rec->count; i++)
		inst_fini(&rec->inst[i]);
	free(rec->inst);
	free(rec->name);
	memset(rec, 0, sizeof(*rec));
}

/* ---- catalog/services -------------------------------------------------- */

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The tag arrays are not read: the per-service health replies carry the
 * tags that matter. Empty and over-long names, and a name that appears
 * twice in a (broken) object, are dropped. */
int
catalog_parse_services(const char *body, size_t len, char ***names,
		       size_t *count)
{
	cJSON *root = json_parse(body, len);
	const cJSON *it;
	const char **keys;
	char **res;
	size_t n = 0, i, k = 0;

	*names = NULL;
	*count = 0;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return -SRV_EFORMAT;
	}
	cJSON_ArrayForEach(it, root) n++;
	keys = xcalloc(n, sizeof(*keys));
	cJSON_ArrayForEach(it, root)
	{
		if (it->string != NULL && it->string[0] != '\0' &&
		    strnlen(it->string, CATALOG_STR_MAX + 1) <= CATALOG_STR_MAX)
			keys[k++] = it->string;
	}
	qsort(keys, k, sizeof(*keys), cmp_strp);
	res = xcalloc(k, sizeof(*res));
	n = 0;
	for (i = 0; i < k; i++) {
		if (n > 0 && strcmp(res[n - 1], keys[i]) == 0)
			continue;
		res[n++] = xstrdup(keys[i]);
	}
	free(keys);
	cJSON_Delete(root);
	*names = res;
	*count = n;
	return 0;
}

void
catalog_names_free(char **names, size_t count)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* ---- health/state/any: the change detector ------------------------------- */

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

/* FNV-1a over a field, then a 0xff separator (never inside UTF-8 text), so
 * ("ab","c") and ("a","bc") differ. An absent field hashes as one 0xfe. */
static uint64_t
fnv_field(uint64_t h, const char *s)
{
	if (s == NULL) {
		h = (h ^ 0xfeu) * FNV64_PRIME;
	} else {
		for (; *s != '\0'; s++)
			h = (h ^ (uint8_t)*s) * FNV64_PRIME;
	}
	return (h ^ 0xffu) * FNV64_PRIME;
}

/* splitmix64's finalizer: spreads FNV's weak high bits before the sum. */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t
check_hash(const cJSON *chk)
{
	const cJSON *mi = member(chk, "ModifyIndex");
	uint64_t h = FNV64_OFFSET;
	int i;

	h = fnv_field(h, str_member(chk, "Node"));
	h = fnv_field(h, str_member(chk, "CheckID"));
	h = fnv_field(h, str_member(chk, "ServiceID"));
	h = fnv_field(h, str_member(chk, "Status"));
	if (cJSON_IsNumber(mi)) {
		uint64_t bits;
		memcpy(&bits, &mi->valuedouble, sizeof(bits));
		for (i = 0; i < 8; i++)
			h = (h ^ ((bits >> (8 * i)) & 0xffu)) * FNV64_PRIME;
	}
	return mix64(h);
}

struct state_ref {
	enum svc_state_kind kind;
	const char *name; /* borrowed from the cJSON tree */
	uint64_t hash;
};

static int
cmp_state_ref(const void *a, const void *b)
{
	const struct state_ref *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

int
catalog_parse_states(const char *body, size_t len, struct svc_state **out,
		     size_t *count)
{
	cJSON *root = json_parse(body, len);
	const cJSON *chk;
	struct state_ref *refs;
	struct svc_state *res;
	size_t n = 0, k = 0, i;

	*out = NULL;
	*count = 0;
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -SRV_EFORMAT;
	}
	cJSON_ArrayForEach(chk, root) n++;
	refs = xcalloc(n, sizeof(*refs));
	cJSON_ArrayForEach(chk, root)
	{
		const char *sid = str_member(chk, "ServiceID");
		struct state_ref r;

		if (!cJSON_IsObject(chk))
			continue;
		if (sid != NULL && *sid != '\0') {
			r.kind = SVC_STATE_SERVICE;
			r.name = str_member(chk, "ServiceName");
		} else {
			r.kind = SVC_STATE_NODE;
			r.name = str_member(chk, "Node");
		}
		if (r.name == NULL || *r.name == '\0')
			continue;
		r.hash = check_hash(chk);
		refs[k++] = r;
	}
	qsort(refs, k, sizeof(*refs), cmp_state_ref);
	res = k ? xcalloc(k, sizeof(*res)) : NULL;
	n = 0;
	for (i = 0; i < k; i++) {
		if (n > 0 && res[n - 1].kind == refs[i].kind &&
		    strcmp(res[n - 1].name, refs[i].name) == 0) {
			res[n - 1].fingerprint += refs[i].hash;
			continue;
		}
		res[n].kind = refs[i].kind;
		res[n].name = xstrdup(refs[i].name);
		res[n].fingerprint = refs[i].hash;
		n++;
	}
	free(refs);
	cJSON_Delete(root);
	*out = res;
	*count = n;
	return 0;
}

void
catalog_states_free(struct svc_state *states, size_t count)
{
	size_t i;

	if (states == NULL)
		return;
	for (i = 0; i < count; i++)
		free(states[i].name);
	free(states);
}

/* ---- agent/service/register -------------------------------------------- */

/* Go's time.ParseDuration reads "10s" and "1500ms" alike; whole seconds
 * are written as seconds so Consul's UI and API echo what the user typed. */
static void
add_duration(cJSON *obj, const char *key, uint64_t ms)
{
	char buf[32];

	if (ms % 1000 == 0)
		snprintf(buf, sizeof(buf), "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, sizeof(buf), "%" PRIu64 "ms", ms);
	cJSON_AddStringToObject(obj, key, buf);
}

char *
catalog_register_body(const struct catalog_reg *r)
{
	cJSON *root, *check, *obj;
	char *text;
	size_t i;

	pthread_once(&hooks_once, hooks_init);
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "ID", r->id);
	cJSON_AddStringToObject(root, "Name", r->name);
	if (r->address != NULL && r->address[0] != '\0')
		cJSON_AddStringToObject(root, "Address", r->address);
	cJSON_AddNumberToObject(root, "Port", r->port);
	if (r->tag_count > 0) {
		obj = cJSON_AddArrayToObject(root, "Tags");
		for (i = 0; i < r->tag_count; i++)
			cJSON_AddItemToArray(obj, cJSON_CreateString(r->tags[i]));
	}
	if (r->meta_count > 0) {
		obj = cJSON_AddObjectToObject(root, "Meta");
		for (i = 0; i < r->meta_count; i++)
			cJSON_AddStringToObject(obj, r->meta_keys[i],
						r->meta_values[i]);
	}
	if (r->weight_passing > 0) {
		obj = cJSON_AddObjectToObject(root, "Weights");
		cJSON_AddNumberToObject(obj, "Passing", r->weight_passing);
		cJSON_AddNumberToObject(obj, "Warning",
					r->weight_warning ? r->weight_warning : 1);
	}
	check = cJSON_AddObjectToObject(root, "Check");
	cJSON_AddStringToObject(check, "CheckID", r->check_id);
	cJSON_AddStringToObject(check, "Name", r->check_name);
	if (r->check_notes != NULL)
		cJSON_AddStringToObject(check, "Notes", r->check_notes);
	add_duration(check, "TTL", r->ttl_ms);
	if (r->check_status != NULL)
		cJSON_AddStringToObject(check, "Status", r->check_status);
	if (r->deregister_after_ms > 0)
		add_duration(check, "DeregisterCriticalServiceAfter",
			     r->deregister_after_ms);

	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (text == NULL)
		fatalx("catalog: register body, cannot be printed");
	return text;
}
