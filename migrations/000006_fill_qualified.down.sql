-- Back to 000002's and 000003's fill triggers: unqualified names, search_path pinned.
CREATE OR REPLACE FUNCTION quotes_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    IF NEW.price IS NULL OR NEW.price <= 0 OR NEW.price = 'NaN' THEN
        RETURN NEW; -- let quotes_price_positive / quotes_price_finite name the problem
    END IF;
    NEW.prev_close := coalesce(NEW.prev_close, NEW.price);
    NEW.day_open := coalesce(NEW.day_open, NEW.price);
    NEW.day_high := greatest(coalesce(NEW.day_high, NEW.price), NEW.price);
    NEW.day_low := least(coalesce(NEW.day_low, NEW.price), NEW.price);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION market_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['quotes_fill()', 'market_fill()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END
$$;
