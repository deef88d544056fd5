"""streamer_workload.py: tables and bounded write loads for the streamer tests.

Owns: create_items_table (a table covering the document types, with TOASTed
values) and Workload (inserts, updates, deletes, primary-key changes,
updates that leave a TOASTed value unchanged, and multi-statement
transactions; each step one committed transaction; seeded, bounded).
"""

def create_items_table(env, name, rows, toast_every=50, replica_identity=None):
    """A table covering the document types and TOAST: id int PK, text,
    numeric, jsonb, timestamptz, bool, array, and a large `body` every
    `toast_every` rows (6.4 kB of md5 hex, stored out of line)."""
    env.sql("""CREATE TABLE %s (
                 id int PRIMARY KEY,
                 name text NOT NULL,
                 qty int,
                 price numeric(12,2),
                 tags text[],
                 attrs jsonb,
                 flag boolean,
                 changed timestamptz DEFAULT now(),
                 body text)""" % name)
    if replica_identity:
        env.sql("ALTER TABLE %s REPLICA IDENTITY %s" % (name, replica_identity))
    # random bytes, hex-encoded: incompressible, so it really is stored out of line
    env.sql("""INSERT INTO %s (id, name, qty, price, tags, attrs, flag, body)
               SELECT g, 'item ' || g, g %% 97, g / 7.0, ARRAY['t' || (g %% 5), 'x'],
                      jsonb_build_object('g', g, 'half', g / 2.0),
                      g %% 2 = 0,
                      CASE WHEN g %% %d = 0 THEN
                        (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 200) i)
                      END
                 FROM generate_series(1, %d) g""" % (name, toast_every, rows))


class Workload:
    """Bounded mixed writes on an items table: inserts, updates, deletes,
    key changes and updates of rows whose TOASTed body stays unchanged
    (the refetch path).  Each step is one committed transaction."""

    def __init__(self, env, table, first_new_id, seed=1):
        import random
        self.env, self.table = env, table
        self.conn = env.pg.connect(autocommit=True)
        self.next_id = first_new_id
        self.rng = random.Random(seed)
        self.counts = {"insert": 0, "update": 0, "delete": 0, "key": 0, "toast": 0, "multi": 0}

    def step(self):
        r = self.rng.random()
        t = self.table
        with self.conn.cursor() as cur:
            if r < 0.25:
                cur.execute("INSERT INTO %s (id, name, qty, tags, attrs) VALUES (%%s, %%s, 1, '{}', '{}')" % t,
                            (self.next_id, "new %d" % self.next_id))
                self.next_id += 1
                self.counts["insert"] += 1
            elif r < 0.55:
                cur.execute("UPDATE %s SET qty = qty + 1, name = name || '+', changed = now() "
                            "WHERE id = (SELECT id FROM %s ORDER BY random() LIMIT 1)" % (t, t))
                self.counts["update"] += 1
            elif r < 0.65:
                cur.execute("DELETE FROM %s WHERE id = (SELECT id FROM %s ORDER BY random() LIMIT 1)" % (t, t))
                self.counts["delete"] += 1
            elif r < 0.75:
                cur.execute("UPDATE %s SET id = %%s WHERE id = (SELECT id FROM %s ORDER BY random() LIMIT 1)"
                            % (t, t), (self.next_id,))
                self.next_id += 1
                self.counts["key"] += 1
            elif r < 0.90:
                # body is TOASTed and unchanged: the plugin cannot send it
                cur.execute("UPDATE %s SET qty = qty + 10 WHERE id = (SELECT id FROM %s WHERE body IS NOT NULL "
                            "ORDER BY random() LIMIT 1)" % (t, t))
                self.counts["toast"] += 1
            else:
                # one transaction touching the same row twice and another row
                cur.execute("BEGIN")
                cur.execute("SELECT id FROM %s ORDER BY random() LIMIT 2" % t)
                ids = [x[0] for x in cur.fetchall()]
                for i in ids:
                    cur.execute("UPDATE %s SET qty = -1 WHERE id = %%s" % t, (i,))
                    cur.execute("UPDATE %s SET qty = -2, attrs = '{\"twice\": true}' WHERE id = %%s" % t, (i,))
                if ids:
                    cur.execute("DELETE FROM %s WHERE id = %%s" % t, (ids[-1],))
                    cur.execute("INSERT INTO %s (id, name) VALUES (%%s, 'reborn')" % t, (ids[-1],))
                cur.execute("COMMIT")
                self.counts["multi"] += 1

    def run(self, n):
        for _ in range(n):
            self.step()

    def run_until(self, cond, max_steps, min_steps=0):
        """Write until cond() (checked every 20 steps) or max_steps; returns steps."""
        i = 0
        while i < max_steps:
            self.step()
            i += 1
            if i >= min_steps and i % 20 == 0 and cond():
                break
        return i

    def close(self):
        self.conn.close()
