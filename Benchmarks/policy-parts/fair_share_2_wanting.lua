-- fair_share cut short (docs/performance.md): who wants current.
return { name = "fair_share_2_wanting", allocate = function(site)
  local want = fusebox.wanting(site)
  return {}
end }
