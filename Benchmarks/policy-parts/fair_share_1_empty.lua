-- fair_share cut short, for `fusebox bench --policies` (docs/performance.md):
-- nothing but the bridge, the result reading and the clamp.
return { name = "fair_share_1_empty", allocate = function(site) return {} end }
