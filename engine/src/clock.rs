//! The one clock and timer abstraction used by everything time-based in the engine: attempt and
//! overall timeouts, backoff sleeps, token buckets, timelines (and hedging, breakers and caches).
//!
//! The implementations:
//! - [`Clock::tokio`]: wall time at creation plus tokio's monotonic clock. Under a paused tokio
//!   runtime (`#[tokio::test(start_paused = true)]`) it is virtual time too.
//! - `Clock::tsc` (feature `tsc`): wall time at creation plus the CPU's time-stamp counter,
//!   cheaper to read; it does not follow a paused tokio runtime.
//! - [`VirtualClock`]: a clock advanced by hand or by [`VirtualClock::block_on`], which jumps to the
//!   next timer whenever the future it drives is idle. Deterministic, with no runtime at all: the
//!   simulator and the engine's own tests run on it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant on an executor's clock: nanoseconds since the Unix epoch.
///
/// Real clocks map their monotonic reading onto the wall time taken when they were created, so
/// timestamps are both monotonic and printable (RFC 3339, see [`Timestamp::to_rfc3339`]).
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from nanoseconds since the Unix epoch.
    pub const fn from_nanos(nanos: u64) -> Timestamp {
        Timestamp(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_nanos(d)))
    }

    /// `self - earlier`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The timestamp as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }

    /// RFC 3339 UTC with microseconds, e.g. `2026-11-28T12:00:00.000250Z`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }

    /// Reads what [`to_rfc3339`](Timestamp::to_rfc3339) writes: RFC 3339 in UTC (`Z`), with
    /// up to nine fraction digits, from 1970 on. `None` for anything else.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u64> {
            let part = b.get(r)?;
            part.iter().try_fold(0u64, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + u64::from(c - b'0'))
            })
        };
        let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) || b.last() != Some(&b'Z') {
            return None;
        }
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (h, min, s) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let nanos = match b.get(19) {
            Some(b'Z') if b.len() == 20 => 0,
            Some(b'.') if (22..=30).contains(&b.len()) => {
                let frac = b.len() - 21;
                digits(20..b.len() - 1)? * 10u64.pow(9 - frac as u32)
            }
            _ => return None,
        };
        let month_days = [
            31,
            28 + u64::from(leap(y)),
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if y < 1970 || !(1..=12).contains(&m) || d == 0 || d > month_days[m as usize - 1] {
            return None;
        }
        if h > 23 || min > 59 || s > 59 {
            return None;
        }
        let days = u64::try_from(days_from_civil(y as i64, m as u32, d as u32)).ok()?;
        let secs = days * 86_400 + h * 3600 + min * 60 + s;
        secs.checked_mul(1_000_000_000)?
            .checked_add(nanos)
            .map(Timestamp)
    }
}

fn leap(y: u64) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

/// A proleptic Gregorian date to days since 1970-01-01 (H. Hinnant's algorithm), the inverse
/// of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A clock and timer source. Cheap to clone; every clone reads the same time.
#[derive(Clone)]
pub struct Clock {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Tokio {
        origin_wall: u64,
        origin: tokio::time::Instant,
    },
    Virtual(Arc<VirtualState>),
    #[cfg(feature = "tsc")]
    Tsc {
        origin_wall: u64,
        counter: quanta::Clock,
        origin: u64,
    },
}

fn wall_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_nanos)
        .unwrap_or(0)
}

impl Clock {
    /// The real clock: tokio's monotonic time mapped onto the wall time read now. Sleeps are tokio
    /// timers, so they need a tokio runtime with the time driver enabled.
    pub fn tokio() -> Clock {
        Clock {
            inner: Inner::Tokio {
                origin_wall: wall_now(),
                origin: tokio::time::Instant::now(),
            },
        }
    }

    /// The real clock read from the CPU's time-stamp counter (through `quanta`), mapped onto the
    /// wall time read now; where the CPU has no invariant counter, the OS's monotonic clock.
    /// Sleeps are tokio timers, as with [`Clock::tokio`].
    ///
    /// A reading costs about half of [`Clock::tokio`]'s, which matters where a call reads the
    /// clock often relative to its other work: a token bucket decision is mostly its clock read.
    ///
    /// # Accuracy
    ///
    /// The counter is calibrated against the OS clock once per process; the first `Clock::tsc`
    /// spends up to 200 ms on it. Its error after that is the calibration's, a drift of parts
    /// per million (see the performance page for a measurement), and it grows with the time
    /// since the clock was made: measure the drift on your hosts before relying on long
    /// durations read from it.
    ///
    /// # Tests
    ///
    /// It does not follow a paused tokio runtime: tests on `start_paused` should use
    /// [`Clock::tokio`] (or a [`VirtualClock`]).
    #[cfg(feature = "tsc")]
    pub fn tsc() -> Clock {
        let counter = quanta::Clock::new();
        let origin = counter.raw();
        Clock {
            inner: Inner::Tsc {
                origin_wall: wall_now(),
                counter,
                origin,
            },
        }
    }

    /// The current time.
    ///
    /// # Performance
    ///
    /// One monotonic clock read (real clock) or one atomic load (virtual clock).
    #[inline]
    pub fn now(&self) -> Timestamp {
        match &self.inner {
            Inner::Tokio {
                origin_wall,
                origin,
            } => Timestamp(origin_wall.saturating_add(duration_nanos(origin.elapsed()))),
            Inner::Virtual(state) => {
                #[cfg(test)]
                reads::count();
                Timestamp(state.now.load(Ordering::Acquire))
            }
            #[cfg(feature = "tsc")]
            Inner::Tsc {
                origin_wall,
                counter,
                origin,
            } => Timestamp(
                origin_wall.saturating_add(counter.delta_as_nanos(*origin, counter.raw())),
            ),
        }
    }

    /// A timer that completes at `deadline`.
    pub fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        match &self.inner {
            Inner::Tokio {
                origin_wall,
                origin,
            } => {
                let offset = deadline.0.saturating_sub(*origin_wall);
                let at = origin
                    .checked_add(Duration::from_nanos(offset))
                    .unwrap_or_else(far_future);
                Sleep {
                    timer: Timer::Tokio {
                        inner: tokio::time::sleep_until(at),
                    },
                }
            }
            Inner::Virtual(state) => Sleep {
                timer: Timer::Virtual {
                    inner: VirtualSleep {
                        state: state.clone(),
                        deadline: deadline.0,
                        id: None,
                    },
                },
            },
            // Timers are tokio's: the time left on this clock, from tokio's now.
            #[cfg(feature = "tsc")]
            Inner::Tsc { .. } => {
                let left = Duration::from_nanos(deadline.0.saturating_sub(self.now().0));
                let at = tokio::time::Instant::now()
                    .checked_add(left)
                    .unwrap_or_else(far_future);
                Sleep {
                    timer: Timer::Tokio {
                        inner: tokio::time::sleep_until(at),
                    },
                }
            }
        }
    }

    /// A timer that completes after `d`.
    pub fn sleep(&self, d: Duration) -> Sleep {
        self.sleep_until(self.now().plus(d))
    }

    /// True for a [`VirtualClock`]'s clock.
    pub fn is_virtual(&self) -> bool {
        matches!(self.inner, Inner::Virtual(_))
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::tokio()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Tokio { .. } => f.write_str("Clock::Tokio"),
            Inner::Virtual(_) => write!(f, "Clock::Virtual({:?})", self.now()),
            #[cfg(feature = "tsc")]
            Inner::Tsc { .. } => f.write_str("Clock::Tsc"),
        }
    }
}

pin_project_lite::pin_project! {
    /// A timer future from [`Clock::sleep`] or [`Clock::sleep_until`].
    ///
    /// # Cancellation
    ///
    /// Dropping it cancels the timer.
    pub struct Sleep {
        #[pin]
        timer: Timer,
    }
}

pin_project_lite::pin_project! {
    /// The timer of the clock that made a [`Sleep`].
    #[project = TimerProj]
    enum Timer {
        Tokio { #[pin] inner: tokio::time::Sleep },
        Virtual { inner: VirtualSleep },
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sleep")
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().timer.project() {
            TimerProj::Tokio { inner } => inner.poll(cx),
            TimerProj::Virtual { inner } => inner.poll_sleep(cx),
        }
    }
}

/// The timer of a virtual clock's [`Sleep`].
#[derive(Debug)]
struct VirtualSleep {
    state: Arc<VirtualState>,
    deadline: u64,
    id: Option<u64>,
}

impl VirtualSleep {
    fn poll_sleep(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.now.load(Ordering::Acquire) >= self.deadline {
            self.deregister();
            return Poll::Ready(());
        }
        let mut timers = self.state.timers.lock().unwrap_or_else(|e| e.into_inner());
        // Re-check under the lock: `advance` updates `now` before taking it.
        if self.state.now.load(Ordering::Acquire) >= self.deadline {
            drop(timers);
            self.deregister();
            return Poll::Ready(());
        }
        let id = *self.id.get_or_insert_with(|| {
            timers.next_id += 1;
            timers.next_id
        });
        timers.map.insert((self.deadline, id), cx.waker().clone());
        Poll::Pending
    }

    fn deregister(&mut self) {
        if let Some(id) = self.id.take() {
            let mut timers = self.state.timers.lock().unwrap_or_else(|e| e.into_inner());
            timers.map.remove(&(self.deadline, id));
        }
    }
}

impl Drop for VirtualSleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[derive(Debug)]
struct VirtualState {
    now: AtomicU64,
    timers: Mutex<Timers>,
}

#[derive(Debug, Default)]
struct Timers {
    next_id: u64,
    map: BTreeMap<(u64, u64), Waker>,
}

/// A clock that only moves when told to: by [`advance`](VirtualClock::advance), or by
/// [`block_on`](VirtualClock::block_on) jumping to the next timer when the future it drives has
/// nothing else to do.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use recourse_engine::clock::VirtualClock;
///
/// let vc = VirtualClock::new();
/// let clock = vc.clock();
/// let start = clock.now();
/// vc.block_on(async { clock.sleep(Duration::from_secs(3600)).await });
/// assert_eq!(clock.now().since(start), Duration::from_secs(3600)); // took no real time
/// ```
#[derive(Clone)]
pub struct VirtualClock {
    state: Arc<VirtualState>,
}

/// Where a [`VirtualClock`] starts unless told otherwise: 2026-01-01T00:00:00Z.
pub const VIRTUAL_EPOCH: Timestamp = Timestamp(1_767_225_600 * 1_000_000_000);

impl VirtualClock {
    /// A virtual clock at [`VIRTUAL_EPOCH`].
    pub fn new() -> VirtualClock {
        VirtualClock::starting_at(VIRTUAL_EPOCH)
    }

    /// A virtual clock at `start`.
    pub fn starting_at(start: Timestamp) -> VirtualClock {
        VirtualClock {
            state: Arc::new(VirtualState {
                now: AtomicU64::new(start.0),
                timers: Mutex::new(Timers::default()),
            }),
        }
    }

    /// A [`Clock`] reading this virtual time.
    pub fn clock(&self) -> Clock {
        Clock {
            inner: Inner::Virtual(self.state.clone()),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        Timestamp(self.state.now.load(Ordering::Acquire))
    }

    /// The earliest pending timer, if any.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let timers = self.state.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers.map.keys().next().map(|&(d, _)| Timestamp(d))
    }

    /// Moves time forward by `d`, waking every timer due on the way.
    pub fn advance(&self, d: Duration) {
        let target = self.now().plus(d);
        self.advance_to(target);
    }

    /// Moves time forward to `target` (never backwards), waking every timer due by then.
    pub fn advance_to(&self, target: Timestamp) {
        let mut timers = self.state.timers.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.state.now.load(Ordering::Acquire);
        if target.0 > now {
            self.state.now.store(target.0, Ordering::Release);
        }
        let due: Vec<Waker> = {
            let later = timers.map.split_off(&(target.0.max(now) + 1, 0));
            std::mem::replace(&mut timers.map, later)
                .into_values()
                .collect()
        };
        drop(timers);
        for w in due {
            w.wake();
        }
    }

    /// Runs `fut` to completion on the current thread. Whenever the future is idle and a timer is
    /// pending, time jumps straight to that timer; a future idle with no timer pending waits for
    /// a real wake-up from another thread.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(true),
            thread: std::thread::current(),
        });
        let waker = Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if signal.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return out;
                }
                continue;
            }
            match self.next_deadline() {
                Some(deadline) => self.advance_to(deadline),
                None => std::thread::park(),
            }
        }
    }
}

impl Default for VirtualClock {
    fn default() -> VirtualClock {
        VirtualClock::new()
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VirtualClock({:?})", self.now())
    }
}

struct Signal {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// `Some(a)` if `a` finishes first, `None` if `b` does.
pub(crate) async fn first<A>(a: impl Future<Output = A>, b: impl Future<Output = ()>) -> Option<A> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        b.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// The virtual clock's reads on this thread, counted in the engine's unit tests: how often a
/// call reads the clock is what a real clock makes it pay, and the tests hold it down.
#[cfg(test)]
pub(crate) mod reads {
    use std::cell::Cell;

    thread_local! {
        static READS: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn count() {
        READS.with(|r| r.set(r.get() + 1));
    }

    /// The reads on this thread so far.
    pub(crate) fn so_far() -> u64 {
        READS.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `clock` between two readings of the OS's monotonic clock taken close together
    /// (read again when the thread was preempted in between): the clock's time since `zero`,
    /// and the OS clock's bounds on it since `os_zero`.
    #[cfg(feature = "tsc")]
    fn bracketed(
        clock: &Clock,
        zero: Timestamp,
        os_zero: std::time::Instant,
    ) -> (Duration, Duration, Duration) {
        loop {
            let before = os_zero.elapsed();
            let read = clock.now().since(zero);
            let after = os_zero.elapsed();
            if after - before < Duration::from_micros(50) {
                return (before, read, after);
            }
        }
    }

    #[cfg(feature = "tsc")]
    #[test]
    fn a_tsc_clock_keeps_pace_with_the_os_clock() {
        let clock = Clock::tsc();
        let start = clock.now();
        let wall = Timestamp(wall_now());
        assert!(
            wall.since(start) < Duration::from_millis(50),
            "starts at the wall time: {start:?} against {wall:?}"
        );
        let (os_zero, zero) = (std::time::Instant::now(), clock.now());
        let slack = Duration::from_micros(200);
        // Busy for a few milliseconds: the two clocks must agree all along.
        loop {
            let (before, read, after) = bracketed(&clock, zero, os_zero);
            assert!(
                read + slack >= before && read <= after + slack,
                "{read:?} outside {before:?}..{after:?}"
            );
            if before > Duration::from_millis(5) {
                break;
            }
        }
    }

    #[cfg(feature = "tsc")]
    #[tokio::test(flavor = "current_thread")]
    async fn a_tsc_clock_sleeps_on_tokio_timers() {
        let clock = Clock::tsc();
        let deadline = clock.now().plus(Duration::from_millis(2));
        clock.sleep_until(deadline).await;
        let now = clock.now();
        assert!(
            now.plus(Duration::from_micros(200)) >= deadline,
            "woke at {now:?}, before {deadline:?}"
        );
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(VIRTUAL_EPOCH.to_rfc3339(), "2026-01-01T00:00:00.000000Z");
        let t = Timestamp(951_782_400_000_000_000 + 1_500); // 2000-02-29
        assert_eq!(t.to_rfc3339(), "2000-02-29T00:00:00.000001Z");
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for nanos in [
            0,
            951_782_400_000_001_000,
            VIRTUAL_EPOCH.0,
            4_102_444_799_999_999_000,
        ] {
            let t = Timestamp(nanos);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        let at = |s| Timestamp::parse_rfc3339(s).map(Timestamp::as_nanos);
        assert_eq!(at("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(at("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(at("1970-01-01T00:00:00.000000007Z"), Some(7));
        for bad in [
            "",
            "2026-11-29",
            "2026-11-29T03:05:12",
            "2026-11-29T03:05:12+01:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T03:05:12.Z",
            "2026-11-29T03:05:12.0000000001Z",
            "1969-12-31T23:59:59Z",
            "2026-1a-29T03:05:12Z",
            "2026-11-29T03:05:12Zé",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Any instant a timestamp holds (to 2554), written and read back, to the microsecond.
        #[test]
        fn rfc3339_round_trips(micros in 0..u64::MAX / 1_000) {
            let t = Timestamp(micros * 1_000);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
    }

    #[test]
    fn timers_fire_in_deadline_order_on_virtual_time() {
        let vc = VirtualClock::new();
        let clock = vc.clock();
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = clock.now();
        let run = |ms: u64| {
            let (clock, order) = (clock.clone(), order.clone());
            async move {
                clock.sleep(Duration::from_millis(ms)).await;
                order.lock().unwrap().push((ms, clock.now().since(start)));
            }
        };
        vc.block_on(async {
            let a = pin!(run(30));
            let b = pin!(run(10));
            let c = pin!(run(20));
            join3(a, b, c).await;
        });
        let got = order.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (10, Duration::from_millis(10)),
                (20, Duration::from_millis(20)),
                (30, Duration::from_millis(30))
            ]
        );
        assert_eq!(vc.next_deadline(), None, "fired timers are deregistered");
    }

    #[test]
    fn dropped_sleep_deregisters_its_timer() {
        let vc = VirtualClock::new();
        let clock = vc.clock();
        let mut s = Box::pin(clock.sleep(Duration::from_secs(1)));
        let waker = Waker::noop();
        assert!(
            s.as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert!(vc.next_deadline().is_some());
        drop(s);
        assert_eq!(vc.next_deadline(), None);
    }

    async fn join3(
        mut a: Pin<&mut impl Future<Output = ()>>,
        mut b: Pin<&mut impl Future<Output = ()>>,
        mut c: Pin<&mut impl Future<Output = ()>>,
    ) {
        let (mut da, mut db, mut dc) = (false, false, false);
        std::future::poll_fn(|cx| {
            da = da || a.as_mut().poll(cx).is_ready();
            db = db || b.as_mut().poll(cx).is_ready();
            dc = dc || c.as_mut().poll(cx).is_ready();
            if da && db && dc {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
