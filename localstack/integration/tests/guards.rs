//! What the business guards rely on, checked on LocalStack's DynamoDB (moto,
//! through our provider plugin): a refused conditional write returns the row
//! as it was (ALL_OLD), also inside TransactWriteItems cancellation reasons;
//! nested map paths in conditions; a cancelled transaction writes nothing.

use serde::{Deserialize, Serialize};
use shopsphere_localstack_tests::emulator;
use shopsphere_runtime::Write;
use shopsphere_runtime::dynamodb::{Change, Table, Transaction, number, string};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    id: String,
    status: String,
    #[serde(default)]
    stock: i64,
    #[serde(default)]
    seen: std::collections::BTreeMap<String, String>,
}

fn row(id: &str, status: &str, stock: i64) -> Row {
    Row { id: id.into(), status: status.into(), stock, seen: Default::default() }
}

async fn table() -> Table {
    let emu = emulator().await;
    let name = emu.create_table("guards", "id").await;
    Table::new(emu.dynamodb.clone(), name, "id")
}

#[tokio::test]
async fn a_refused_put_returns_the_row_it_found() {
    let t = table().await;
    assert_eq!(t.put_new(&row("a", "FIRST", 0)).await.unwrap(), Write::Done);
    assert_eq!(t.put_new(&row("a", "SECOND", 0)).await.unwrap(), Write::Refused(Some(row("a", "FIRST", 0))));
}

#[tokio::test]
async fn a_cancelled_transaction_names_each_failed_condition_with_its_row_and_writes_nothing() {
    let t = table().await;
    t.put(&row("guard", "DONE", 0)).await.unwrap();
    t.put(&row("sku", "STOCK", 1)).await.unwrap();
    let take = |qty: i64| Change::new("SET stock = stock - :qty").when("stock >= :qty").value(":qty", number(qty));
    let outcome = t.transact(vec![t.tx_put_new(&row("guard", "NEW", 0)), t.tx_update("sku", &take(5))]).await.unwrap();
    let Transaction::Cancelled(reasons) = outcome else { panic!("{outcome:?}") };
    assert!(reasons[0].condition_failed && reasons[1].condition_failed);
    let guard: Row = t.decode(reasons[0].item.clone().expect("the guard's row (ALL_OLD)")).unwrap();
    assert_eq!(guard, row("guard", "DONE", 0));

    let outcome = t.transact(vec![t.tx_put_new(&row("fresh", "NEW", 0)), t.tx_update("sku", &take(5))]).await.unwrap();
    let Transaction::Cancelled(reasons) = outcome else { panic!("{outcome:?}") };
    assert!(!reasons[0].condition_failed && reasons[1].condition_failed);
    assert!(t.get::<Row>("fresh").await.unwrap().is_none(), "all or nothing");
    assert_eq!(t.get::<Row>("sku").await.unwrap().unwrap().stock, 1);

    let outcome = t.transact(vec![t.tx_put_new(&row("fresh", "NEW", 0)), t.tx_update("sku", &take(1))]).await.unwrap();
    assert_eq!(outcome, Transaction::Committed);
    assert_eq!(t.get::<Row>("sku").await.unwrap().unwrap().stock, 0);
}

#[tokio::test]
async fn a_nested_map_key_guards_an_update_and_a_refusal_returns_the_row() {
    let t = table().await;
    t.put(&row("o", "PENDING", 0)).await.unwrap();
    let apply = |event: &str, to: &str| {
        Change::new("SET seen.#event = :to, #status = :to")
            .when("attribute_exists(id) AND attribute_not_exists(seen.#event) AND #status IN (:from0, :from1)")
            .name("#event", event)
            .name("#status", "status")
            .value(":to", string(to))
            .value(":from0", string("PENDING"))
            .value(":from1", string("PAID"))
    };
    assert_eq!(t.update::<Row>("o", &apply("e-1", "PAID")).await.unwrap(), Write::Done);
    let Write::Refused(Some(again)) = t.update::<Row>("o", &apply("e-1", "PAID")).await.unwrap() else { panic!() };
    assert_eq!(again.seen["e-1"], "PAID", "the refusal carries the row that has the event");
    assert_eq!(t.update::<Row>("o", &apply("e-2", "SHIPPED")).await.unwrap(), Write::Done);
    assert!(
        matches!(t.update::<Row>("o", &apply("e-3", "PAID")).await.unwrap(), Write::Refused(Some(_))),
        "status ahead"
    );
    assert_eq!(t.update::<Row>("missing", &apply("e-1", "PAID")).await.unwrap(), Write::Refused(None));
}
