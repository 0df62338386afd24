//! `operation.lua` on a real Redis, around a step that increments a
//! counter: what a resend answers, how long ids are kept, and when a
//! resend cannot tell whether its first send was applied.

use redis_harness::Server;

use super::as_operation;

/// The keys of the test step: its counter, then the two operation keys.
const KEYS: [&str; 3] = ["{t}:counter", "{t}:counter:ops", "{t}:counter:ops:old"];

struct Step {
    server: Server,
    text: String,
}

impl Step {
    fn start() -> Step {
        let server = Server::start_with(&[]).expect("a redis-server");
        let text = as_operation(
            include_str!("operation.lua"),
            "#!lua flags=allow-cross-slot-keys\nreturn redis.call('INCR', KEYS[1])",
        );
        Step { server, text }
    }

    /// Sends the step with `op` (an id, or `<id>~<age>` for a resend):
    /// its reply, or the error it answered.
    fn send(&self, op: &str) -> String {
        let mut args = vec!["EVAL", &self.text, "3"];
        args.extend(KEYS);
        args.push(op);
        self.server.cli(&args).expect("redis-cli").trim().to_owned()
    }

    fn counter(&self) -> String {
        self.cli(&["GET", KEYS[0]])
    }

    fn cli(&self, args: &[&str]) -> String {
        self.server.cli(args).expect("redis-cli").trim().to_owned()
    }

    fn hlen(&self, key: &str) -> usize {
        self.cli(&["HLEN", key]).parse().expect("a length")
    }
}

/// A 22-character id, as `operation_id::next` makes them.
fn id(n: usize) -> String {
    format!("{n:0>22}")
}

#[test]
fn a_resend_answers_its_first_reply_and_changes_nothing() {
    let s = Step::start();
    assert_eq!(s.send(&id(1)), "1");
    assert_eq!(s.send(&format!("{}~5", id(1))), "1", "a resend");
    assert_eq!(s.send(&id(1)), "1", "a first send after its resend");
    assert_eq!(s.counter(), "1");
    assert_eq!(s.send(&id(2)), "2");
    // A resend whose first send never arrived runs.
    assert_eq!(s.send(&format!("{}~5", id(3))), "3");
    assert_eq!(s.send(&format!("{}~9", id(3))), "3");
    // No id: runs every time.
    assert_eq!(s.send(""), "4");
    assert_eq!(s.send(""), "5");
    let ttl: u64 = s.cli(&["PTTL", KEYS[1]]).parse().expect("a TTL");
    assert!(ttl > 50_000 && ttl <= 60_000, "PTTL {ttl}");
    assert_eq!(s.hlen(KEYS[1]), 1 + 3, "the header and three ids");
}

#[test]
fn ids_are_kept_in_two_generations_of_at_most_128() {
    let s = Step::start();
    let started = std::time::Instant::now();
    let mut sent_767 = started;
    for n in 0..1_000 {
        if n == 767 {
            sent_767 = std::time::Instant::now();
        }
        s.send(&id(n));
    }
    assert_eq!(s.counter(), "1000");
    // 1,000 = 7 full generations of 128, then 104.
    assert_eq!(s.hlen(KEYS[1]), 1 + 104);
    assert_eq!(s.hlen(KEYS[2]), 1 + 128);
    // The newest 232 ids answer their first reply.
    assert_eq!(s.send(&format!("{}~50", id(768))), "769");
    assert_eq!(s.send(&format!("{}~50", id(999))), "1000");
    // The one before them was dropped: its resend (with its true age)
    // cannot tell, and applies nothing.
    let age = |since: std::time::Instant| since.elapsed().as_millis();
    let dropped = s.send(&format!("{}~{}", id(767), age(sent_767)));
    assert!(dropped.contains("OPERATION_UNKNOWN"), "{dropped}");
    // Nor can a resend whose first send came before that drop.
    let never_sent = s.send(&format!("{}~{}", id(5_000), age(started)));
    assert!(never_sent.contains("OPERATION_UNKNOWN"), "{never_sent}");
    assert_eq!(s.counter(), "1000");
    // A first send is never refused.
    assert_eq!(s.send(&id(5_001)), "1001");
}

#[test]
fn a_resend_runs_when_its_first_send_came_after_the_last_drop() {
    let s = Step::start();
    assert_eq!(s.send(&id(1)), "1");
    // Ids applied before 2 s ago were dropped (the header, as a rename by
    // count writes it).
    let time = s.cli(&["TIME"]);
    let mut parts = time.lines().map(|l| l.trim().parse::<u64>().expect("TIME"));
    let now = parts.next().expect("seconds") * 1000 + parts.next().expect("micros") / 1000;
    let head = format!("{} {} 1", now - 1_000, now - 2_000);
    s.cli(&["HSET", KEYS[1], "@", &head]);
    // First sent 1.5 s ago (plus the slack): after the drop, so not applied.
    assert_eq!(s.send(&format!("{}~1500", id(2))), "2");
    // First sent 2.5 s ago: it may have been applied and dropped.
    let before = s.send(&format!("{}~2500", id(3)));
    assert!(before.contains("OPERATION_UNKNOWN"), "{before}");
    assert_eq!(s.counter(), "2");
}

#[test]
fn a_resend_older_than_the_window_cannot_tell() {
    let s = Step::start();
    assert_eq!(s.send(&id(1)), "1");
    // Its first send 29 s ago: every id since then is kept.
    assert_eq!(s.send(&format!("{}~28000", id(2))), "2");
    // 40 s ago: ids of that time may have expired.
    let late = s.send(&format!("{}~40000", id(3)));
    assert!(late.contains("OPERATION_UNKNOWN"), "{late}");
    assert_eq!(s.counter(), "2");
}
