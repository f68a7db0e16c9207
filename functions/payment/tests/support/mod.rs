//! Fakes for the payment service's ports (domain and handler tests only).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use shopsphere_events::Money;
use shopsphere_messaging::{ApplyEffect, Consumer, InMemoryPublisher, InMemorySink};
use shopsphere_payment::domain::{GatewayError, PaymentGateway, Payments, RepoError};
use shopsphere_payment::gateway::SimulatedGateway;
use shopsphere_payment::{Payment, PaymentEffect, PaymentRecord, PaymentStatus};

/// The payments table in memory, with the adapter's conditions.
#[derive(Default)]
pub struct InMemoryPayments(pub Mutex<HashMap<String, PaymentRecord>>);

impl InMemoryPayments {
    pub fn get_now(&self, order_id: &str) -> Option<PaymentRecord> {
        self.0.lock().unwrap().get(order_id).cloned()
    }
}

impl Payments for &InMemoryPayments {
    async fn get(&self, order_id: &str) -> Result<Option<PaymentRecord>, RepoError> {
        Ok(self.get_now(order_id))
    }
}

impl ApplyEffect<PaymentEffect> for &InMemoryPayments {
    fn apply(&self, effect: &PaymentEffect) -> Result<(), String> {
        let mut rows = self.0.lock().unwrap();
        match effect {
            PaymentEffect::None => Ok(()),
            PaymentEffect::Record(r) if rows.contains_key(&r.order_id) => Err("payment exists".into()),
            PaymentEffect::Record(r) => {
                rows.insert(r.order_id.clone(), r.clone());
                Ok(())
            }
            PaymentEffect::Refund { order_id, refund_id, reason } => match rows.get_mut(order_id) {
                Some(row) if row.status == PaymentStatus::Charged => {
                    row.status = PaymentStatus::Refunded;
                    row.refund_id = Some(refund_id.clone());
                    row.reason = Some(reason.clone());
                    Ok(())
                }
                _ => Err("not charged".into()),
            },
        }
    }
}

/// The simulated gateway, counting calls.
pub struct CountingGateway {
    pub inner: SimulatedGateway,
    pub charges: AtomicUsize,
    pub refunds: AtomicUsize,
}

impl CountingGateway {
    pub fn new() -> Self {
        CountingGateway {
            inner: SimulatedGateway::new(50_000, 1),
            charges: AtomicUsize::new(0),
            refunds: AtomicUsize::new(0),
        }
    }
}

impl PaymentGateway for &CountingGateway {
    async fn charge(&self, order_id: &str, amount: Money, token: &str) -> Result<String, GatewayError> {
        let result = self.inner.charge(order_id, amount, token).await;
        if result.is_ok() {
            self.charges.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn refund(&self, payment_id: &str, amount: Money) -> Result<String, GatewayError> {
        self.refunds.fetch_add(1, Ordering::SeqCst);
        self.inner.refund(payment_id, amount).await
    }
}

pub type TestConsumer<'a> = Consumer<
    Payment<&'a InMemoryPayments, &'a CountingGateway>,
    InMemorySink<&'a InMemoryPayments>,
    std::sync::Arc<shopsphere_idempotency::InMemoryStore>,
    InMemoryPublisher,
>;

pub fn consumer<'a>(payments: &'a InMemoryPayments, gateway: &'a CountingGateway) -> TestConsumer<'a> {
    Consumer::in_memory(Payment { payments, gateway }, payments)
}
