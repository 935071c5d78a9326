ALTER TABLE "orders" ADD CONSTRAINT "orders_total_positive" CHECK ("total" >= 0);
ALTER TABLE "orders" ADD CONSTRAINT "orders_qty_positive" CHECK ("qty" > 0) NOT VALID;
