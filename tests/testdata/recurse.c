/* recurse: unbounded non-tail recursion that must trap with a call-stack overflow (wasm trap: call stack exhausted). */

/* volatile globals: the compiler cannot know the recursion ever stops, and
 * the store after the recursive call keeps the call out of tail position. */
static volatile unsigned stop_at = 0xffffffffu;
static volatile unsigned sink;

__attribute__((noinline)) static unsigned recurse(unsigned n) {
    if (n == stop_at)
        return n;
    unsigned r = recurse(n + 1);
    sink = r;
    return r * 3u + n;
}

int main(void) {
    return (int)(recurse(0) & 1u);
}
