return {
  allocate = function(site)
    return {
  end,
}
