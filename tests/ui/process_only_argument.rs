// `retries` and `job_timeout` set process pools' builders: threads have neither.
#[lox::thread(4, retries = 1)]
fn one(x: u32) -> u32 {
    x
}

#[lox::thread(job_timeout = std::time::Duration::from_secs(1))]
fn two(x: u32) -> u32 {
    x
}

fn main() {}
