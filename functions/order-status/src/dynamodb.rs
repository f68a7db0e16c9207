//! The orders table as order-status writes it: one conditional UpdateItem per
//! event, keyed in the timeline map by event id.

use shopsphere_orders::{OrderView, OrdersTable};
use shopsphere_runtime::dynamodb::{Change, attribute, string};
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Applied, OrderRows, StatusChange};

/// The UpdateItem of `change`: `SET #timeline.#event = :happened, ...` where
/// the row exists, lacks the event and (`move_status`) has a status it moves
/// from. Every attribute is named by a placeholder: several (`status`,
/// `lines`, `total`...) are DynamoDB reserved words.
pub fn status_update(change: &StatusChange, move_status: bool) -> Change {
    let mut set = vec!["#timeline.#event = :happened", "#updated_at = :updated_at"];
    let mut condition = "attribute_exists(#order_id) AND attribute_not_exists(#timeline.#event)".to_owned();
    let mut update = Change::default()
        .name("#order_id", "order_id")
        .name("#timeline", "timeline")
        .name("#event", &change.event_id)
        .name("#updated_at", "updated_at")
        .value(":happened", attribute(&change.happened))
        .value(":updated_at", string(&change.updated_at));
    if move_status {
        set.push("#status = :status");
        let from: Vec<String> = (0..change.moves_from.len()).map(|i| format!(":from{i}")).collect();
        condition.push_str(&format!(" AND #status IN ({})", from.join(", ")));
        update = update.name("#status", "status").value(":status", string(change.status.as_str()));
        for (placeholder, status) in from.into_iter().zip(&change.moves_from) {
            update = update.value(placeholder, string(status.as_str()));
        }
    }
    if let Some(reason) = &change.reason {
        set.push("#reasons = list_append(#reasons, :reason)");
        update = update.name("#reasons", "reasons").value(":reason", attribute(&[reason]));
    }
    if let Some(details) = &change.details {
        set.extend(["#customer_id = :customer_id", "#lines = :lines", "#total = :total"]);
        update = update
            .name("#customer_id", "customer_id")
            .name("#lines", "lines")
            .name("#total", "total")
            .value(":customer_id", string(&details.customer_id))
            .value(":lines", attribute(&details.lines))
            .value(":total", attribute(&details.total));
    }
    update.update = format!("SET {}", set.join(", "));
    update.when(condition)
}

impl OrderRows for OrdersTable {
    async fn apply(&self, change: &StatusChange, move_status: bool) -> Result<Applied, TableError> {
        match self.0.update::<OrderView>(&change.order_id, &status_update(change, move_status)).await? {
            Write::Done => Ok(Applied::Now),
            Write::Refused(None) => Ok(Applied::Missing),
            Write::Refused(Some(row)) if row.timeline.contains_key(&change.event_id) => Ok(Applied::Repeat),
            Write::Refused(Some(_)) if move_status => Ok(Applied::StatusAhead),
            Write::Refused(Some(_)) => {
                Err(TableError::unavailable(self.0.name(), "the order row refused an update it has no reason to"))
            }
        }
    }

    async fn rebuild(&self, view: &OrderView) -> Result<Write<OrderView>, TableError> {
        self.create(view).await
    }
}
