//! Fakes for the payment service's ports (domain and handler tests only):
//! the payments table with the adapter's conditions, and the simulated
//! gateway's own rules over a ledger in memory.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use shopsphere_events::{Envelope, samples};
use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_payment::gateway::{GatewayRecord, Ledger, SimulatedGateway, charge_key, refund_key};
use shopsphere_payment::{Payment, PaymentRecord, PaymentStatus, PaymentTokens, Payments};
use shopsphere_runtime::{TableError, Updated, Write};

#[derive(Default)]
pub struct InMemoryPayments {
    pub rows: Mutex<HashMap<String, PaymentRecord>>,
    /// Settling writes that fail (the table unavailable) before one passes.
    pub settle_outages: AtomicU32,
}

impl InMemoryPayments {
    pub fn get_now(&self, order_id: &str) -> Option<PaymentRecord> {
        self.rows.lock().unwrap().get(order_id).cloned()
    }

    /// What a crashed holder leaves behind once its lease has run out.
    pub fn expire_lease(&self, order_id: &str) {
        self.rows.lock().unwrap().get_mut(order_id).unwrap().lease_until = shopsphere_runtime::now_ms() - 1;
    }
}

impl Payments for &InMemoryPayments {
    async fn open(&self, intent: &PaymentRecord) -> Result<Write<PaymentRecord>, TableError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some(row) = rows.get(&intent.order_id) {
            return Ok(Write::Refused(Some(row.clone())));
        }
        rows.insert(intent.order_id.clone(), intent.clone());
        Ok(Write::Done)
    }

    async fn settle(
        &self,
        record: &PaymentRecord,
        expected: PaymentStatus,
        lease_until: i64,
    ) -> Result<Write<PaymentRecord>, TableError> {
        if self.settle_outages.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(TableError::unavailable("payments", "throttled"));
        }
        let mut rows = self.rows.lock().unwrap();
        match rows.get(&record.order_id) {
            Some(row) if row.status == expected && row.lease_until == lease_until => {
                rows.insert(record.order_id.clone(), record.clone());
                Ok(Write::Done)
            }
            other => Ok(Write::Refused(other.cloned())),
        }
    }

    async fn begin_refund(
        &self,
        order_id: &str,
        refund_key: &str,
        lease_until: i64,
    ) -> Result<Updated<PaymentRecord>, TableError> {
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(order_id) {
            Some(row) if row.status == PaymentStatus::Charged => {
                row.status = PaymentStatus::Refunding;
                row.refund_key = Some(refund_key.to_owned());
                row.lease_until = lease_until;
                Ok(Updated::Done(row.clone()))
            }
            other => Ok(Updated::Refused(other.map(|r| r.clone()))),
        }
    }

    async fn take_over(
        &self,
        order_id: &str,
        status: PaymentStatus,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Updated<PaymentRecord>, TableError> {
        let mut rows = self.rows.lock().unwrap();
        match rows.get_mut(order_id) {
            Some(row) if row.status == status && row.lease_until < now_ms => {
                row.lease_until = lease_until;
                Ok(Updated::Done(row.clone()))
            }
            other => Ok(Updated::Refused(other.map(|r| r.clone()))),
        }
    }

    async fn release(&self, order_id: &str, status: PaymentStatus, lease_until: i64) -> Result<(), TableError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some(row) = rows.get_mut(order_id).filter(|r| r.status == status && r.lease_until == lease_until) {
            row.lease_until = 0;
        }
        Ok(())
    }
}

/// The gateway's ledger in memory.
#[derive(Default)]
pub struct InMemoryLedger(pub Mutex<HashMap<String, (u32, GatewayRecord)>>);

impl Ledger for &InMemoryLedger {
    async fn attempt(&self, id: &str) -> Result<u32, TableError> {
        let mut rows = self.0.lock().unwrap();
        let entry = rows.entry(id.to_owned()).or_insert_with(|| {
            (0, GatewayRecord { id: id.to_owned(), call_ids: Default::default(), charge: None, refund_id: None })
        });
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn keep_first(&self, record: &GatewayRecord) -> Result<GatewayRecord, TableError> {
        let mut rows = self.0.lock().unwrap();
        let entry = rows
            .entry(record.id.clone())
            .or_insert_with(|| (0, GatewayRecord { call_ids: Default::default(), ..record.clone() }));
        let call = entry.1.call_ids.len().to_string();
        entry.1.call_ids.insert(call);
        Ok(entry.1.clone())
    }

    async fn get(&self, id: &str) -> Result<Option<GatewayRecord>, TableError> {
        Ok(self.0.lock().unwrap().get(id).map(|(_, r)| r.clone()))
    }
}

impl InMemoryLedger {
    /// Charge calls made with `key` (the OrderCreated's event id).
    pub fn charge_calls(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(&charge_key(key)).map_or(0, |(_, r)| r.calls())
    }

    pub fn refund_calls(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(&refund_key(key)).map_or(0, |(_, r)| r.calls())
    }

    /// Charge and refund calls in all.
    pub fn calls(&self) -> u64 {
        self.0.lock().unwrap().values().map(|(_, r)| r.calls()).sum()
    }
}

pub type TestGateway<'a> = SimulatedGateway<&'a InMemoryLedger>;

pub fn gateway(ledger: &InMemoryLedger) -> TestGateway<'_> {
    SimulatedGateway { limit: 50_000, flaky_failures: 1, ledger }
}

/// The payment-tokens table in memory: order id → token.
#[derive(Default)]
pub struct InMemoryTokens(pub Mutex<HashMap<String, String>>);

impl InMemoryTokens {
    /// What order-api does with a new order's token.
    pub fn deposit(&self, order_id: &str, token: &str) {
        self.0.lock().unwrap().insert(order_id.to_owned(), token.to_owned());
    }

    pub fn on_file(&self, order_id: &str) -> bool {
        self.0.lock().unwrap().contains_key(order_id)
    }
}

impl PaymentTokens for &InMemoryTokens {
    async fn token(&self, order_id: &str) -> Result<Option<String>, TableError> {
        Ok(self.0.lock().unwrap().get(order_id).cloned())
    }

    async fn forget(&self, order_id: &str) -> Result<(), TableError> {
        self.0.lock().unwrap().remove(order_id);
        Ok(())
    }
}

/// An order placed with `token`: its OrderCreated, the token deposited.
pub fn placed(tokens: &InMemoryTokens, order_id: &str, token: &str) -> Envelope {
    tokens.deposit(order_id, token);
    samples::order_created(order_id)
}

/// The payments table, the gateway's ledger and the payment tokens, in memory.
#[derive(Default)]
pub struct Fakes {
    pub payments: InMemoryPayments,
    pub ledger: InMemoryLedger,
    pub tokens: InMemoryTokens,
}

pub type TestConsumer<'a> =
    Consumer<Payment<&'a InMemoryPayments, TestGateway<'a>, &'a InMemoryTokens>, InMemoryPublisher>;

pub fn consumer(fakes: &Fakes) -> TestConsumer<'_> {
    Consumer::in_memory(Payment { payments: &fakes.payments, gateway: gateway(&fakes.ledger), tokens: &fakes.tokens })
}
