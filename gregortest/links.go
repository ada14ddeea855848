package gregortest

// Pairwise network faults: Cut and Mend sever and restore the links
// between two brokers only, so tests can build partitions of any shape
// (a majority/minority split, a bridge where one node still sees both
// sides) from single links. Isolate is the special case of every link of
// one node.

// Cut severs the inter-broker links between brokers i and j (0-based) in
// both directions: Raft, replication and forwarded requests. Their links
// to the other brokers and every client connection stay up.
func (c *Cluster) Cut(i, j int) {
	a, b := c.brokers[i].id, c.brokers[j].id
	c.mu.Lock()
	c.cuts[[2]int32{a, b}] = true
	c.cuts[[2]int32{b, a}] = true
	c.mu.Unlock()
	c.brokers[i].raft.cutFrom(b)
	c.brokers[i].kafka.cutFrom(b)
	c.brokers[j].raft.cutFrom(a)
	c.brokers[j].kafka.cutFrom(a)
}

// Mend undoes Cut(i, j).
func (c *Cluster) Mend(i, j int) {
	a, b := c.brokers[i].id, c.brokers[j].id
	c.mu.Lock()
	delete(c.cuts, [2]int32{a, b})
	delete(c.cuts, [2]int32{b, a})
	c.mu.Unlock()
}

// HealNetwork undoes every Isolate, Cut and Shape.
func (c *Cluster) HealNetwork() {
	c.mu.Lock()
	clear(c.isolated)
	clear(c.cuts)
	clear(c.shapes)
	c.mu.Unlock()
}

// cutFrom closes the proxy's links opened by node src.
func (p *proxy) cutFrom(src int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		if l.src == src {
			l.close()
		}
	}
}
