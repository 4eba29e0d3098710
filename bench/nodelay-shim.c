/*
 * An LD_PRELOAD shim that sets TCP_NODELAY on every accepted socket, as
 * tonic's own `Server::serve` does and as `serve_with_incoming` over a plain
 * listener does not. scripts/bench builds it and `gateway-bench run
 * --gateway-preload` starts one more gateway with it: it showed what turning
 * Nagle's algorithm off gives before the gateway did so itself, and now
 * guards that it stays off (the two rows must match). Measurement only;
 * never for production.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd) {
    if (fd >= 0) {
        int one = 1;
        /* Fails harmlessly on sockets that are not TCP. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int c = real(fd, addr, len, flags);
    nodelay(c);
    return c;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    int c = real(fd, addr, len);
    nodelay(c);
    return c;
}
