//! The simulated payment gateway (the default adapter of [`PaymentGateway`]).
//!
//! Tokens: `tok_visa` succeeds, `tok_decline` is declined, `tok_flaky` fails
//! transiently its first `flaky_failures` attempts per order; any amount above
//! `limit` (minor units) is declined. Ids derive from the order id, so a
//! repeated call yields the same payment (the idempotency a real gateway
//! offers through its idempotency keys).

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_events::{Money, Reason};
use uuid::Uuid;

use crate::domain::{GatewayError, PaymentGateway};

const ID_NAMESPACE: Uuid = Uuid::from_u128(0x9d2c_51aa_0f3e_4b7c_8e11_6a4d_2c9b_7f05);

#[derive(Debug)]
pub struct SimulatedGateway {
    pub limit: i64,
    pub flaky_failures: u32,
    attempts: Mutex<HashMap<String, u32>>,
}

impl SimulatedGateway {
    pub fn new(limit: i64, flaky_failures: u32) -> Self {
        SimulatedGateway { limit, flaky_failures, attempts: Mutex::default() }
    }
}

fn declined(code: &str, message: String) -> GatewayError {
    GatewayError::Declined(Reason { code: code.into(), message })
}

impl PaymentGateway for SimulatedGateway {
    async fn charge(&self, order_id: &str, amount: Money, token: &str) -> Result<String, GatewayError> {
        if amount.amount > self.limit {
            return Err(declined(
                "amount_over_limit",
                format!("{} {} exceeds the limit of {}", amount.amount, amount.currency, self.limit),
            ));
        }
        match token {
            "tok_visa" => {}
            "tok_decline" => return Err(declined("card_declined", "the card was declined".into())),
            "tok_flaky" => {
                let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
                let n = attempts.entry(order_id.to_owned()).or_default();
                *n += 1;
                if *n <= self.flaky_failures {
                    return Err(GatewayError::Unavailable(format!(
                        "simulated outage (attempt {n} of {})",
                        self.flaky_failures
                    )));
                }
            }
            other => return Err(declined("invalid_token", format!("unknown payment token {other:?}"))),
        }
        Ok(format!("pay_{}", Uuid::new_v5(&ID_NAMESPACE, order_id.as_bytes()).simple()))
    }

    async fn refund(&self, payment_id: &str, _amount: Money) -> Result<String, GatewayError> {
        Ok(format!("re_{}", Uuid::new_v5(&ID_NAMESPACE, payment_id.as_bytes()).simple()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(amount: i64) -> Money {
        Money { amount, currency: "EUR".parse().unwrap() }
    }

    #[tokio::test]
    async fn tokens_and_limit_decide_the_outcome() {
        let g = SimulatedGateway::new(10_000, 2);
        let a = g.charge("o1", eur(100), "tok_visa").await.unwrap();
        assert_eq!(a, g.charge("o1", eur(100), "tok_visa").await.unwrap(), "same order, same payment id");
        assert!(
            matches!(g.charge("o2", eur(100), "tok_decline").await, Err(GatewayError::Declined(r)) if r.code == "card_declined")
        );
        assert!(
            matches!(g.charge("o3", eur(10_001), "tok_visa").await, Err(GatewayError::Declined(r)) if r.code == "amount_over_limit")
        );
        for _ in 0..2 {
            assert!(matches!(g.charge("o4", eur(1), "tok_flaky").await, Err(GatewayError::Unavailable(_))));
        }
        assert!(g.charge("o4", eur(1), "tok_flaky").await.is_ok(), "flaky succeeds after N failures");
    }
}
