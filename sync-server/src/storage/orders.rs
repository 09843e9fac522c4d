//! What the office API lists from the projections: orders, when an
//! order's events arrived, open exceptions, stock, routes, and the
//! location documents. (An order's view is [`Storage::order_view`].)

use waybill_shared::doc::DocId;

use super::{Row, Storage, StorageError, Value, args};

/// Appended to a prefix, the end of its range: above every character.
const BEYOND: char = char::MAX;

impl Storage {
    /// A page of orders, by id: up to `limit` after the id `after`, with
    /// their status, customer, open exceptions and last change; those of
    /// `status` only, and matching `q`, if given; and how many match in all.
    ///
    /// `q` matches a prefix of the order id (as typed, or in capitals) or a
    /// prefix of the customer's name in any case (ASCII letters). Prefixes,
    /// not any part of the text: each is a range of an index (the primary
    /// key, `orders_customer` on `LOWER(customer)`), so a search costs what
    /// it finds, not a read of every order held. Pages are by id (keyset),
    /// so a later page costs the same as the first.
    pub(crate) async fn order_page(
        &self,
        status: Option<&str>,
        q: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Row>, u64), StorageError> {
        let mut filter = Vec::new();
        let mut params = Vec::new();
        if let Some(s) = status {
            params.push(Value::from(s));
            filter.push(format!("status = ?{}", params.len()));
        }
        if let Some(q) = q {
            let n = params.len();
            let (upper, lower) = (q.to_ascii_uppercase(), q.to_ascii_lowercase());
            for prefix in [q, &upper, &lower] {
                params.push(Value::from(prefix));
                params.push(Value::from(format!("{prefix}{BEYOND}")));
            }
            filter.push(format!(
                "id IN (SELECT id FROM orders WHERE id >= ?{a} AND id < ?{b}
                        UNION SELECT id FROM orders WHERE id >= ?{c} AND id < ?{d}
                        UNION SELECT id FROM orders WHERE LOWER(customer) >= ?{e} AND LOWER(customer) < ?{f})",
                a = n + 1,
                b = n + 2,
                c = n + 3,
                d = n + 4,
                e = n + 5,
                f = n + 6
            ));
        }
        let counted =
            if filter.is_empty() { String::new() } else { format!(" WHERE {}", filter.join(" AND ")) };
        let count_sql = format!("SELECT COUNT(*) FROM orders{counted}");
        let count_params = params.clone();
        if let Some(a) = after {
            params.push(Value::from(a));
            filter.push(format!("id > ?{}", params.len()));
        }
        params.push(Value::from(limit));
        let paged =
            if filter.is_empty() { String::new() } else { format!(" WHERE {}", filter.join(" AND ")) };
        let page_sql = format!(
            "SELECT id, status, customer, open_exceptions, updated_at FROM orders{paged} ORDER BY id LIMIT ?{}",
            params.len()
        );
        let mut read = self.snapshot(&[(&page_sql, params), (&count_sql, count_params)]).await?.into_iter();
        let rows = read.next().unwrap_or_default();
        let total = match read.next().unwrap_or_default().first() {
            Some(r) => r.get(0)?,
            None => 0,
        };
        Ok((rows, total))
    }

    /// When each event of a document first reached the server: (event id,
    /// RFC 3339 time).
    pub(crate) async fn arrival_times(&self, doc: &DocId) -> Result<Vec<(String, String)>, StorageError> {
        self.query("SELECT event, at FROM arrivals WHERE doc = ?1", args![doc.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .await
    }

    /// Open exceptions, by document and id; `events` and `detail` are JSON
    /// text.
    pub(crate) async fn open_exception_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows(
            "SELECT doc, id, kind, events, detail FROM exceptions WHERE open = 1 ORDER BY doc, id",
            args![],
        )
        .await
    }

    /// Stock on hand per location, bin and item.
    pub(crate) async fn stock_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows("SELECT location, bin, gtin, on_hand FROM stock ORDER BY location, bin, gtin", args![])
            .await
    }

    /// Routes, by id; `view` is JSON text.
    pub(crate) async fn route_rows(&self) -> Result<Vec<Row>, StorageError> {
        self.rows("SELECT id, driver, van, done, stops, view FROM routes ORDER BY id", args![]).await
    }

    /// What the office map shows, read in one snapshot: the routes still on
    /// the road (stops not all finished; `id`, `view` as JSON text) by id,
    /// and the views of the orders on them (`route`, `view` as JSON text),
    /// by route and order. Finished routes stay out, so the map costs what
    /// is on the road, not every route ever run.
    pub(crate) async fn map_rows(&self) -> Result<(Vec<Row>, Vec<Row>), StorageError> {
        let routes = "SELECT id, view FROM routes WHERE done < stops ORDER BY id";
        let orders = "SELECT ro.route, o.view FROM route_orders ro
                      JOIN routes r ON r.id = ro.route AND r.done < r.stops
                      JOIN orders o ON o.id = ro.order_id
                      ORDER BY ro.route, ro.order_id";
        let mut read = self.snapshot(&[(routes, args![]), (orders, args![])]).await?.into_iter();
        Ok((read.next().unwrap_or_default(), read.next().unwrap_or_default()))
    }

    /// The ids of the stored location documents (`location/<id>/<epoch>`),
    /// in order.
    pub(crate) async fn location_doc_ids(&self) -> Result<Vec<String>, StorageError> {
        self.query("SELECT id FROM docs WHERE kind = 'location' ORDER BY id", args![], |r| r.get(0)).await
    }
}
