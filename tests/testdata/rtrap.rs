// rtrap: panics (attempt to divide by zero) at a known line, built with
// debug info so the trap's backtrace names the line: rtrap.rs:8 in
// rtrap::divide. The divisor is the number of arguments: none divides by
// zero, which the compiler cannot see.
#[inline(never)]
fn divide(a: i32, b: i32) -> i32 {
    println!("dividing {} by {}", a, b);
    a / b
}

fn main() {
    let n = std::env::args().count() as i32 - 1;
    std::process::exit(divide(7, n));
}
