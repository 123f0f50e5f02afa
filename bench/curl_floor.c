/* SPDX-License-Identifier: MIT
 * curl_floor.c -- the resident-memory floor of a libcurl Consul client.
 * Owns:    the smallest program that does what srvshimd's watch must: load
 *          Debian's libcurl, initialise it (skipping libssh2's crypto set-up
 *          the same way src/http.c does) and complete one HTTP request to a
 *          Consul agent. It then prints its own VmRSS and waits to be
 *          stopped, so bench/run can put srvshimd's RSS beside it: what is
 *          above this line is srvshim's own.
 * Never:   DNS, threads, cJSON. Built and run by bench/run, not by make.
 *
 * Usage: curl_floor URL */
#define _GNU_SOURCE 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int
main(int argc, char **argv)
{
	int (*ssh2_init)(int);
	char line[256];
	FILE *f;
	CURL *e;
	long code = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: curl_floor URL\n");
		return 2;
	}
	*(void **)&ssh2_init = dlsym(RTLD_DEFAULT, "libssh2_init");
	if (ssh2_init != NULL)
		ssh2_init(0x0001); /* LIBSSH2_INIT_NO_CRYPTO, as src/http.c */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (e = curl_easy_init()) == NULL)
		return 1;
	curl_easy_setopt(e, CURLOPT_URL, argv[1]);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (curl_easy_perform(e) != CURLE_OK)
		return 1;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			printf("http %ld, %s", code, line);
	fclose(f);
	fflush(stdout);
	pause(); /* bench/run reads our RSS again, then stops us */
	return 0;
}
