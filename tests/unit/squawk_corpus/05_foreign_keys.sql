ALTER TABLE "orders" ADD CONSTRAINT "orders_customerId_fkey" FOREIGN KEY ("customerId") REFERENCES "customers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "orders" ADD CONSTRAINT "orders_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "shops"("id") NOT VALID;
ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_shopId_fkey";
ALTER TABLE "invoices" ADD COLUMN "orderId" TEXT REFERENCES "orders"("id");
