//! What the customer says in the fold: a low rating opens a follow-up that
//! a better rating (or the office) closes, and a return request waits for
//! the office's authorisation, whichever replica saw what first.

#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use support::*;
use waybill_shared::event::Payload;
use waybill_shared::event::customer::{FeedbackGiven, ReturnRequested};
use waybill_shared::event::office::{Decision, ExceptionResolved};
use waybill_shared::event::returns::{ReturnAuthorised, ReturnLine};
use waybill_shared::fold::ExceptionKind;

fn rated(rating: u8) -> Payload {
    Payload::FeedbackGiven(FeedbackGiven { rating, comment: "late".into() })
}

fn lines(quantity: u32) -> Vec<ReturnLine> {
    vec![ReturnLine { line: 1, gtin: gtin(1), quantity }]
}

fn open_ids(view: &waybill_shared::fold::OrderView) -> Vec<String> {
    view.open_exceptions().map(|e| e.id.clone()).collect()
}

#[test]
fn a_low_rating_opens_a_follow_up_that_a_better_rating_or_the_office_closes() {
    let mut office = Device::new("office");
    let mut doc = new_order(&mut office, &order_header("SO-1", &[2]));
    office.append(&mut doc, rated(4));
    let view = order_view(&mut doc);
    assert_eq!(view.feedback.as_ref().map(|f| f.rating), Some(4));
    assert!(open_ids(&view).is_empty(), "a good rating asks nothing of the office");

    let low = office.append(&mut doc, rated(1));
    let view = order_view(&mut doc);
    let follow_up = view.exceptions.iter().find(|e| e.id == "low_rating").unwrap();
    assert_eq!(follow_up.kind, ExceptionKind::LowRating { rating: 1 });
    assert_eq!(follow_up.events, vec![low.id.clone()]);

    // The office calls the customer and settles it.
    office.append(
        &mut doc,
        Payload::ExceptionResolved(ExceptionResolved {
            exception: "low_rating".into(),
            events: vec![low.id],
            decision: Decision::Accept,
            note: "called, apologised".into(),
        }),
    );
    assert!(open_ids(&order_view(&mut doc)).is_empty());
    // A second low rating opens it again; a better one after it closes it.
    office.append(&mut doc, rated(2));
    assert_eq!(open_ids(&order_view(&mut doc)), ["low_rating"]);
    office.append(&mut doc, rated(5));
    let view = order_view(&mut doc);
    assert!(open_ids(&view).is_empty());
    assert_eq!(view.feedback.unwrap().rating, 5);
}

#[test]
fn a_return_request_waits_for_the_office_authorisation_that_answers_it() {
    let mut office = Device::new("office");
    let mut doc = new_order(&mut office, &order_header("SO-1", &[3]));
    let first = office.append(
        &mut doc,
        Payload::ReturnRequested(ReturnRequested { lines: lines(1), reason: "wrong size".into() }),
    );
    let second = office.append(
        &mut doc,
        Payload::ReturnRequested(ReturnRequested { lines: lines(2), reason: String::new() }),
    );
    let view = order_view(&mut doc);
    assert_eq!(
        open_ids(&view),
        [format!("return_requested:{}", first.id), format!("return_requested:{}", second.id)]
    );
    office.append(
        &mut doc,
        Payload::ReturnAuthorised(ReturnAuthorised { rma: "RMA-1".into(), lines: lines(1), request: None }),
    );
    let view = order_view(&mut doc);
    assert_eq!(open_ids(&view), [format!("return_requested:{}", second.id)]);
    assert_eq!(view.return_requests[0].authorised.as_deref(), Some("RMA-1"));
    assert_eq!(view.return_requests[1].authorised, None);
    // A return taken on the phone (other lines, no request named) answers
    // no request; one naming the request answers it.
    office.append(
        &mut doc,
        Payload::ReturnAuthorised(ReturnAuthorised { rma: "RMA-2".into(), lines: lines(3), request: None }),
    );
    assert_eq!(open_ids(&order_view(&mut doc)), [format!("return_requested:{}", second.id)]);
    office.append(
        &mut doc,
        Payload::ReturnAuthorised(ReturnAuthorised {
            rma: "RMA-3".into(),
            lines: lines(1),
            request: Some(second.id.clone()),
        }),
    );
    let view = order_view(&mut doc);
    assert!(open_ids(&view).is_empty());
    assert_eq!(view.return_requests[1].authorised.as_deref(), Some("RMA-3"));
}

proptest! {
    /// Two replicas: one takes the customer's rating and return request,
    /// the other the office's authorisation; merged either way they agree.
    #[test]
    fn merged_either_way_the_customer_view_is_the_same(rating in 1u8..=5, authorise_first in any::<bool>()) {
        let mut office = Device::new("office");
        let mut server = Device::new("server");
        let mut base = new_order(&mut office, &order_header("SO-1", &[2]));
        let mut a = server.fork(&mut base);
        let mut b = office.fork(&mut base);
        server.append(&mut a, rated(rating));
        server.append(&mut a, Payload::ReturnRequested(ReturnRequested { lines: lines(1), reason: String::new() }));
        if authorise_first {
            office.append(&mut b, Payload::ReturnAuthorised(ReturnAuthorised { rma: "RMA-9".into(), lines: lines(1), request: None }));
        }
        let (mut ab, mut ba) = (a.fork(), b.fork());
        merge(&mut ab, &mut b);
        merge(&mut ba, &mut a);
        let (x, y) = (order_view(&mut ab), order_view(&mut ba));
        prop_assert_eq!(&x.feedback, &y.feedback);
        prop_assert_eq!(&x.return_requests, &y.return_requests);
        prop_assert_eq!(open_ids(&x), open_ids(&y));
        prop_assert_eq!(x.exceptions.iter().any(|e| e.id == "low_rating"), rating <= 2);
    }
}
