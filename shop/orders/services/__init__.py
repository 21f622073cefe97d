"""Every write to orders: checkout, transitions, returns, payments handlers, the e-mail outbox."""
