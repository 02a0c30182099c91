/* Hosts of their own for the fleet tests: one network namespace per server, joined to the
 * test's namespace by a veth pair, so that a server's link can be cut for real (the root
 * side set down) rather than its process killed. etcd listens on an interface of the test's
 * namespace that no link cut touches. Needs CAP_NET_ADMIN and the ip command; when
 * either is missing, tn_setup says why and the tests run on loopback instead.
 *
 * Addresses: 10.R.i.1 (test side) and 10.R.i.2 (host i) on veth pair i, 10.R.250.1 for
 * etcd, with R picked so that no interface of this machine already uses 10.R.0.0/16.
 * Names carry a tag unique to the test process; every name created is also written to a
 * file, so that the parent removes them even when a test was killed. */
#ifndef TT_NETNS_H
#define TT_NETNS_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TN_MAX_HOSTS 8

typedef struct tn_net {
    bool on;
    int subnet; /* R */
    char tag[16];
    int n_hosts;
    char ns[TN_MAX_HOSTS][48];    /* namespace names */
    char link[TN_MAX_HOSTS][16];  /* test-side veth names */
    char host_ip[TN_MAX_HOSTS][24];
    char dummy[15]; /* etcd's interface (one end of a veth pair kept here) */
    char etcd_ip[24];
    char record[400]; /* the file listing what was made */
} tn_net;

static inline int tn_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int tn_sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[1100];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    return system(full);
}

static inline void tn_note(const tn_net *n, const char *kind, const char *name)
{
    FILE *f = fopen(n->record, "a");
    if (f) {
        fprintf(f, "%s %s\n", kind, name);
        fclose(f);
    }
}

/* Removes what a record file lists (namespaces take their veth ends with them). */
static inline void tn_cleanup_file(const char *record)
{
    FILE *f = fopen(record, "r");
    if (!f)
        return;
    char kind[16], name[64];
    while (fscanf(f, "%15s %63s", kind, name) == 2) {
        if (strcmp(kind, "ns") == 0)
            tn_sh("ip netns del %s", name);
        else
            tn_sh("ip link del %s", name);
    }
    fclose(f);
    unlink(record);
}

static inline void tn_teardown(tn_net *n)
{
    if (n->on)
        tn_cleanup_file(n->record);
    n->on = false;
}

/* Sets up n_hosts namespaces. Returns true when done; false with why filled when this
 * machine does not allow it (the caller falls back to loopback). record_dir: where the
 * record of what was made is kept. */
static inline bool tn_setup(tn_net *n, int n_hosts, const char *record_dir, char *why, size_t whycap)
{
    memset(n, 0, sizeof *n);
    if (getenv("TETHER_TEST_NO_NETNS")) {
        snprintf(why, whycap, "TETHER_TEST_NO_NETNS is set");
        return false;
    }
    if (n_hosts > TN_MAX_HOSTS) {
        snprintf(why, whycap, "more than %d hosts", TN_MAX_HOSTS);
        return false;
    }
    if (tn_sh("ip -V") != 0) {
        snprintf(why, whycap, "the ip command (iproute2) is not installed");
        return false;
    }
    snprintf(n->tag, sizeof n->tag, "%05x", (unsigned)getpid() & 0xfffff);
    snprintf(n->record, sizeof n->record, "%s/netns-%s.list", record_dir, n->tag);
    /* a probe: can this process make a namespace at all? */
    char probe[48];
    snprintf(probe, sizeof probe, "ttprobe%s", n->tag);
    if (tn_sh("ip netns add %s", probe) != 0) {
        snprintf(why, whycap, "cannot create network namespaces here (no CAP_NET_ADMIN?)");
        return false;
    }
    tn_sh("ip netns del %s", probe);
    /* a 10.R.0.0/16 nobody uses */
    for (int t = 0; t < 64 && !n->subnet; t++) {
        int r = 20 + (int)((unsigned)(getpid() * 7 + t * 13) % 230);
        if (tn_sh("ip -4 addr show | grep -q ' 10\\.%d\\.'", r) != 0 && tn_sh("ip -4 route show | grep -q '10\\.%d\\.'", r) != 0)
            n->subnet = r;
    }
    if (!n->subnet) {
        snprintf(why, whycap, "no free 10.R.0.0/16 subnet for the test hosts");
        return false;
    }
    n->on = true;
    snprintf(n->dummy, sizeof n->dummy, "tf%se", n->tag);
    snprintf(n->etcd_ip, sizeof n->etcd_ip, "10.%d.250.1", n->subnet);
    /* a veth pair with both ends here (a dummy interface needs a module not always loaded) */
    bool ok = tn_sh("ip link add %s type veth peer name %sx", n->dummy, n->dummy) == 0;
    if (ok)
        tn_note(n, "link", n->dummy);
    ok = ok && tn_sh("ip addr add %s/32 dev %s", n->etcd_ip, n->dummy) == 0 && tn_sh("ip link set %s up", n->dummy) == 0 &&
         tn_sh("ip link set %sx up", n->dummy) == 0;
    for (int i = 0; ok && i < n_hosts; i++) {
        snprintf(n->ns[i], sizeof n->ns[i], "ttf%s-%d", n->tag, i);
        snprintf(n->link[i], sizeof n->link[i], "tf%sa%d", n->tag, i);
        char peer[16];
        snprintf(peer, sizeof peer, "tf%sb%d", n->tag, i);
        snprintf(n->host_ip[i], sizeof n->host_ip[i], "10.%d.%d.2", n->subnet, i + 1);
        ok = tn_sh("ip netns add %s", n->ns[i]) == 0;
        if (ok)
            tn_note(n, "ns", n->ns[i]);
        ok = ok && tn_sh("ip link add %s type veth peer name %s", n->link[i], peer) == 0;
        if (ok)
            tn_note(n, "link", n->link[i]);
        ok = ok && tn_sh("ip link set %s netns %s", peer, n->ns[i]) == 0 &&
             tn_sh("ip addr add 10.%d.%d.1/24 dev %s", n->subnet, i + 1, n->link[i]) == 0 &&
             tn_sh("ip link set %s up", n->link[i]) == 0 &&
             tn_sh("ip -n %s addr add %s/24 dev %s", n->ns[i], n->host_ip[i], peer) == 0 &&
             tn_sh("ip -n %s link set %s up", n->ns[i], peer) == 0 && tn_sh("ip -n %s link set lo up", n->ns[i]) == 0 &&
             tn_sh("ip -n %s route add default via 10.%d.%d.1", n->ns[i], n->subnet, i + 1) == 0;
        n->n_hosts = i + 1;
    }
    if (!ok) {
        snprintf(why, whycap, "setting up the namespaces failed (ip link / ip netns)");
        tn_teardown(n);
        return false;
    }
    return true;
}

/* Cuts (down) or restores (up) host i's link: the test side of its veth pair. */
static inline int tn_link(const tn_net *n, int i, bool up)
{
    return tn_sh("ip link set %s %s", n->link[i], up ? "up" : "down");
}

/* In a child before exec: enter host i's namespace. */
static inline int tn_enter(const char *ns)
{
    char path[128];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

#endif
