//! Fuzzes what the API server sends the master's webhooks: TokenReview and
//! SubjectAccessReview bodies, and audit `EventList`s (decoded into
//! canonical leaves). The first byte picks the body; nothing may panic, and
//! a decoded review must serialize back.
#![no_main]

use daas_core::access::tokenreview::TokenReview;
use daas_core::audit::event::parse_event_list;
use daas_master::access::authorize::SubjectAccessReview;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(review) = serde_json::from_slice::<TokenReview>(body) {
                let answer = review.reject("refused");
                let _ = serde_json::to_vec(&answer);
            }
        }
        1 => {
            if let Ok(review) = serde_json::from_slice::<SubjectAccessReview>(body) {
                let _ = serde_json::to_vec(&review);
            }
        }
        _ => {
            let _ = parse_event_list(body);
        }
    }
});
